// The subscriptions folder's port.
export type { MailboxChangeSource, SourceStats } from './mailbox-change-source.js';
export type { MailboxSignal, MailboxStatus, MailboxState, SignalOp } from './mailbox-signal.js';
export { createMailboxChangeSource, directoryFor, type SourceDependencies } from './create-source.js';
export { StaticDirectory, CsvFileDirectory, CrmAssociateDirectory, type MailboxDirectory, type MailboxHome } from './mailbox-directory.js';
export { positionKey } from './folder-syncer.js';
export { MailboxOwnership, OwnedDirectory, partitionOfMailbox } from './mailbox-ownership.js';
export { budgetOf, CapacityLimitedDirectory, capacityProblem, groupSizeOf, mailboxCapacity, type AccountBudget } from './account-capacity.js';
export { openExchangeSide, type ExchangeProtocol, type ExchangeSide, type OpenExchangeSideOptions, type SideReadiness } from './open-exchange-side.js';
export { rebasePositions, recordedMailboxProtocol, recordedMailboxProtocols, recordedProtocol, recordMailboxProtocol, recordProtocol } from './rebase-positions.js';
export { MailboxPlacement } from './mailbox-placement.js';
export { HybridSource } from './hybrid-source.js';
export { carries, countByDirection, DirectedDirectory, MailboxDirections, SYNC_DIRECTIONS, type DirectionSnapshot, type SyncDirection, type Towards } from './mailbox-direction.js';
