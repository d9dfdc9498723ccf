/**
 * Which source's position a value is: EWS's SyncState of a folder, or a Graph delta link.
 * The values are opaque; the kind travels with them (signals, envelopes, saved state) so one is
 * never handed to the other protocol.
 */
export type MailboxPositionKind = 'ews-syncstate' | 'graph-delta';
