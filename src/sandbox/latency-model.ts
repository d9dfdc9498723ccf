/**
 * How long Exchange takes to answer, per EWS operation: a log-normal distribution given by its
 * median and 99th percentile (a long right tail, as server response times have).
 *
 * Microsoft publishes no per-operation distribution for EWS. These figures are assumptions,
 * kept here in one place, anchored on what is published: Microsoft's counter guidance for
 * Exchange 2007/2010 wants the mailbox store's "RPC Averaged Latency" below 50 ms on average,
 * and monitoring products default their alarm on Outlook Web App's "Average Response Time" (a
 * client access request end to end) to 100 ms; Exchange Online adds the way to Microsoft's front doors and a shared, multi-tenant
 * mailbox store (the 120 ms median of issue #26's own estimate, three times on premises). Writes
 * cost more than reads (a write goes to the store and its copies), a Subscribe more than a read
 * (it registers with every mailbox server the subscription needs). `npm run bench` measures
 * every scenario with no latency and with a profile, in one run, so each figure can be read
 * against both.
 */
export const LATENCY_PROFILES = ['none', 'on-premises', 'online'] as const;
export type LatencyProfile = (typeof LATENCY_PROFILES)[number];

export interface OperationLatency {
  readonly medianMs: number;
  readonly p99Ms: number;
}

const ON_PREMISES: Readonly<Record<string, OperationLatency>> = {
  default: { medianMs: 40, p99Ms: 250 },
  GetItem: { medianMs: 40, p99Ms: 250 },
  GetFolder: { medianMs: 30, p99Ms: 200 },
  SyncFolderItems: { medianMs: 45, p99Ms: 300 },
  FindItem: { medianMs: 60, p99Ms: 400 },
  GetEvents: { medianMs: 35, p99Ms: 250 },
  Subscribe: { medianMs: 80, p99Ms: 500 },
  Unsubscribe: { medianMs: 40, p99Ms: 250 },
  CreateItem: { medianMs: 90, p99Ms: 600 },
  UpdateItem: { medianMs: 80, p99Ms: 500 },
  DeleteItem: { medianMs: 60, p99Ms: 400 },
};

/** Exchange Online: three times the way and the wait. */
const ONLINE: Readonly<Record<string, OperationLatency>> = Object.fromEntries(
  Object.entries(ON_PREMISES).map(([op, l]) => [op, { medianMs: l.medianMs * 3, p99Ms: l.p99Ms * 3 }]),
);

/** The 99th percentile of the standard normal distribution. */
const Z99 = 2.326;

/**
 * Draws each request's delay from its operation's distribution. A streaming connection's
 * GetStreamingEvents is delayed only in its opening (the sandbox waits before it answers at all).
 */
export class LatencyModel {
  private readonly table: Readonly<Record<string, OperationLatency>>;
  private spare: number | undefined;

  constructor(readonly profile: Exclude<LatencyProfile, 'none'>, private readonly random: () => number) {
    this.table = profile === 'online' ? ONLINE : ON_PREMISES;
  }

  /** The figures an operation is drawn from (for reports). */
  of(operation: string): OperationLatency {
    return this.table[operation] ?? this.table.default;
  }

  delayOf(operation: string): number {
    const { medianMs, p99Ms } = this.of(operation);
    const sigma = Math.log(p99Ms / medianMs) / Z99;
    return Math.round(medianMs * Math.exp(sigma * this.normal()));
  }

  /** A standard normal draw (Box–Muller, both values used). */
  private normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = Math.max(this.random(), Number.MIN_VALUE);
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}
