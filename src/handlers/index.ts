// The handlers' port.
export { ToCrmHandler, type Outcome } from './to-crm-handler.js';
export { ItemMappingStore, ItemBusyError, type ItemMapping } from './item-mapping.js';
export { exchangeStamp } from './exchange-stamp.js';
export { runHandler, REPLAY_HEADERS } from './run-handler.js';
export { ToExchangeHandler } from './to-exchange-handler.js';
export { listDeadLetters, replayDeadLetters, type DeadLetter } from './dead-letters.js';
export { exchangeWins, type ConflictReport } from './conflict-policy.js';
export { UnconfirmedItems } from './unconfirmed-items.js';
