// Messages between the benchmark and a sync or poller process it started.

/** A change a handler applied, with the moment its write committed. */
export interface HandledChange {
  readonly direction: 'to-crm' | 'to-exchange' | 'poll';
  /** exchange:<mailbox> or crm:<name> */
  readonly source: string;
  /** The ItemId, or appointment:<id>. */
  readonly subject: string;
  /** r: a resync's read of an item (the first sync, a recovery). */
  readonly op: 'c' | 'u' | 'd' | 'r';
  /** ChangeKey (Exchange) or updated_count (CRM) of what was applied; null for a delete. */
  readonly version: string | null;
  readonly at: number;
}

export interface SyncStats {
  readonly cpuMicros: number;
  readonly rss: number;
  readonly peakRss: number;
  readonly heapUsed: number;
  readonly ewsRequests: number;
  /** Requests to Microsoft Graph (a $batch counts once); 0 over EWS. */
  readonly graphRequests: number;
  /** GraphNotify: notifications taken, subscriptions renewed. */
  readonly notifications: number;
  readonly renewals: number;
  /** Requests to the CRM's Web API (SuperOffice); 0 for the reference CRM. */
  readonly crmRequests: number;
  readonly mailboxes: number;
  readonly initialSyncDone: number;
  readonly active: number;
  readonly lagToCrm: number;
  readonly lagToExchange: number;
}

export type SyncProcessRequest = { type: 'stats'; id: number } | { type: 'stop' };

export type SyncProcessReply =
  | { type: 'ready'; opsUrl: string }
  | { type: 'handled'; changes: HandledChange[] }
  | ({ type: 'stats'; id: number } & SyncStats)
  | { type: 'stopped' };
