// The Exchange side's neutral port: what the core needs from a mailbox, whatever the protocol.
export type { FetchedItem, FolderKind, KeptProperties, ListedItem, MailboxStore, UpdateOutcome } from './mailbox-store.js';
export type { MailboxPositionKind } from './mailbox-position.js';
export type { FolderChange, FolderChangePage, FolderChangeReader } from './folder-changes.js';
export type { ChangeSubscription, ChannelEvent, NotificationChannel } from './notification-channel.js';
export { checkSteps, type CheckResult } from './mailbox-checks.js';
