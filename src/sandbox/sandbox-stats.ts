/** Counters the control API reports at GET /sandbox/stats. */
export class SandboxStats {
  readonly requestsByOperation = new Map<string, number>();
  readonly errorsByCode = new Map<string, number>();
  throttled = 0;
  /** Requests from an account that came back sooner than the BackOffMilliseconds it was given. */
  backoffViolations = 0;
  /** The largest such shortfall, in ms. */
  worstBackoffShortfallMs = 0;
  /** Requests refused because their budget had EWSMaxConcurrency requests under way. */
  concurrencyRefusals = 0;
  authFailures = 0;
  /** NTLM CHALLENGEs sent: one per TCP connection that authenticated (or tried to). */
  ntlmChallenges = 0;
  /** SyncFolderItems requests without a SyncState (full syncs). */
  fullSyncs = 0;
  streamingConnectionsOpened = 0;
  notificationEnvelopes = 0;
  /** Meeting requests, updates and cancellations sent to attendees by calendar writes (one per recipient). */
  meetingMessages = 0;
  schemaViolations: string[] = [];
  readonly startedAt = Date.now();

  countRequest(operation: string): void {
    this.requestsByOperation.set(operation, (this.requestsByOperation.get(operation) ?? 0) + 1);
  }

  countError(code: string): void {
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
  }

  totalRequests(): number {
    let n = 0;
    for (const v of this.requestsByOperation.values()) n += v;
    return n;
  }
}
