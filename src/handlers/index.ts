// The handlers' port.
export { ToCrmHandler } from './to-crm-handler.js';
export { routeByType, type ChangeHandler, type HandlingPlace, type Outcome } from './change-handler.js';
export { ItemMappingStore, ItemBusyError, type ItemMapping } from './item-mapping.js';
export { exchangeStamp } from './exchange-stamp.js';
export { runHandler, REPLAY_HEADERS } from './run-handler.js';
export { ToExchangeHandler } from './to-exchange-handler.js';
export { verdictOf, blockerOf, BLOCKER_TITLE, type ItemPolicy, type ItemVerdict } from './item-policy.js';
export { listDeadLetters, replayDeadLetters, type DeadLetter, type ReplayOutcome, type ReplayReaders } from './dead-letters.js';
export { exchangeWins, type ConflictReport } from './conflict-policy.js';
export { UnconfirmedItems } from './unconfirmed-items.js';
export { ContactsToCrm } from './contacts-to-crm.js';
export { ContactsToExchange } from './contacts-to-exchange.js';
export { SelectionsToExchange } from './selections-to-exchange.js';
export { SelectionFolderStore, type SelectionCopy, type SelectionFolder } from './selection-folders.js';
export { DeleteBreaker, behindBreaker, type DeleteBreakerSettings, type TrippedScope } from './delete-breaker.js';
export { heldBack, towardsSide, type FieldDirections } from './field-directions.js';
export { exchangeShapeOf, releasedSince } from './exchange-shape.js';
export { crmTypeOf, typeCategoryOf, typeToWrite, type CategoryTypes } from './category-types.js';
