import type { AccountShare } from '../ews/index.js';
import type { SyncDirection } from '../subscriptions/index.js';
import type { Registry } from 'prom-client';
import type { MailboxState, MailboxStatus } from '../subscriptions/index.js';
import type { LagHistory, LagSample } from './lag-history.js';
import type { LatencyWindow } from './latency-window.js';
import type { MailboxBacklog } from './mailbox-backlog.js';
import type { ReadinessCheck } from './ops-server.js';
import type { SampleReport } from './verify-sample.js';
import type { PolicyRule } from './policy-skips.js';

/** What /status answers and the status page shows. */
export interface StatusReport {
  service: { instance: string; version: string; startedAt: string; uptimeSeconds: number; advise: string; transport: string; partitions: number[] };
  ready: { ok: boolean; reasons: Array<{ name: string; reason: string }> };
  mailboxes: {
    total: number;
    byState: Record<MailboxState, number>;
    initialSyncDone: number;
    /** A hybrid organisation: how many are synced on premises (EWS) and in Exchange Online (Graph). */
    bySide?: { ews: number; graph: number };
    /** Mailboxes synced one way only, by direction (absent when all are two-way). */
    byDirection?: Partial<Record<SyncDirection, number>>;
    /** Failed, backing off, paused or still subscribing: the worst first, at most 200. */
    attention: MailboxView[];
  };
  lag: { current: Record<string, number>; history: LagSample[] };
  latency: { toCrm: LatencySummary; toExchange: LatencySummary; windowMinutes: number };
  ewsErrors: Record<string, number>;
  /**
   * Delegate access with several service accounts: each account's budget, what the plan puts on
   * it across all instances and what this instance holds of it.
   */
  accounts?: AccountShare[];
  dlq: Record<string, number>;
  /** The background verify: differences it saw twice with nothing in flight. */
  verify: SampleReport | null;
}

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface MailboxView {
  mailbox: string;
  state: MailboxState;
  reason?: string;
  since: string;
  lastEventAt?: string;
  lastSyncAt?: string;
  initialSyncDone: boolean;
  /** A hybrid organisation: the protocol the mailbox is synced through. */
  side?: 'ews' | 'graph';
  /** Which way it is synced (sync@direction, the mailbox file's direction column). */
  direction?: SyncDirection;
  /** Changes the sync policy kept from the other side since the start, by rule (none: absent). */
  skipped?: Partial<Record<PolicyRule, number>>;
  /** Changes of this mailbox published by this instance and not yet applied. */
  pending: number;
  lastAppliedAt?: string;
}

export interface StatusSources {
  instance: string;
  version: string;
  startedAt: number;
  advise: string;
  transport: string;
  mailboxes: () => MailboxStatus[];
  /** Partitions of <prefix>mailboxes this instance holds: its share of the mailboxes. */
  partitions: () => number[];
  readiness: ReadinessCheck[];
  lag: LagHistory;
  latency: { toCrm: LatencyWindow; toExchange: LatencyWindow; windowMinutes: number };
  backlog: MailboxBacklog;
  registry: Registry;
  dlqSizes: () => Promise<Record<string, number>>;
  verify?: () => SampleReport;
  /** A hybrid organisation: where each mailbox is synced. */
  sideOf?: (mailbox: string) => 'ews' | 'graph';
  /** Each mailbox's direction. */
  directionOf?: (mailbox: string) => SyncDirection;
  /** What the sync policy kept from the other side, per mailbox. */
  skippedOf?: (mailbox: string) => Partial<Record<PolicyRule, number>> | undefined;
  /** Delegate access with several service accounts: their budgets. */
  accounts?: () => AccountShare[];
}

const SEVERITY: Record<MailboxState, number> = { failed: 0, 'backing-off': 1, paused: 2, subscribing: 3, syncing: 4, active: 5 };
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

export function mailboxView(s: MailboxStatus, backlog: MailboxBacklog, by: Pick<StatusSources, 'sideOf' | 'directionOf' | 'skippedOf'> = {}): MailboxView {
  const { sideOf, directionOf } = by;
  const b = backlog.of(s.mailbox);
  const skipped = by.skippedOf?.(s.mailbox);
  return {
    mailbox: s.mailbox, state: s.state, reason: s.reason, since: iso(s.since)!, lastEventAt: iso(s.lastEventAt), lastSyncAt: iso(s.lastSyncAt),
    initialSyncDone: s.initialSyncDone, ...(sideOf ? { side: sideOf(s.mailbox) } : {}), ...(directionOf ? { direction: directionOf(s.mailbox) } : {}), ...(skipped ? { skipped } : {}), pending: b.pending, lastAppliedAt: iso(b.lastHandledAt),
  };
}

export async function buildStatusReport(src: StatusSources): Promise<StatusReport> {
  const all = src.mailboxes();
  const byState = { subscribing: 0, syncing: 0, active: 0, 'backing-off': 0, failed: 0, paused: 0 } as Record<MailboxState, number>;
  let initialSyncDone = 0;
  for (const s of all) {
    byState[s.state]++;
    if (s.initialSyncDone) initialSyncDone++;
  }
  const attention = all
    .filter((s) => s.state !== 'active' && s.state !== 'syncing')
    .sort((a, b) => SEVERITY[a.state] - SEVERITY[b.state] || a.mailbox.localeCompare(b.mailbox))
    .slice(0, 200)
    .map((s) => mailboxView(s, src.backlog, src));
  // one-way mailboxes by direction (those switched off are not synced, so not here)
  let byDirection: Partial<Record<SyncDirection, number>> | undefined;
  if (src.directionOf) {
    for (const s of all) {
      const d = src.directionOf(s.mailbox);
      if (d !== 'two-way') (byDirection ??= {})[d] = (byDirection?.[d] ?? 0) + 1;
    }
  }
  let bySide: { ews: number; graph: number } | undefined;
  if (src.sideOf) {
    bySide = { ews: 0, graph: 0 };
    for (const s of all) bySide[src.sideOf(s.mailbox)]++;
  }
  const reasons = src.readiness.map((r) => ({ name: r.name, reason: r.check() })).filter((r): r is { name: string; reason: string } => r.reason !== null);
  const latest = src.lag.samples[src.lag.samples.length - 1] ?? (await src.lag.sample());
  const ewsErrors: Record<string, number> = {};
  const errors = await src.registry.getSingleMetric('ecs_ews_errors_total')?.get();
  for (const v of errors?.values ?? []) {
    const code = String(v.labels.code ?? 'unknown');
    ewsErrors[code] = (ewsErrors[code] ?? 0) + v.value;
  }
  return {
    service: {
      instance: src.instance, version: src.version, startedAt: new Date(src.startedAt).toISOString(), uptimeSeconds: Math.round((Date.now() - src.startedAt) / 1000),
      advise: src.advise, transport: src.transport, partitions: src.partitions(),
    },
    ready: { ok: reasons.length === 0, reasons },
    mailboxes: { total: all.length, byState, initialSyncDone, ...(bySide ? { bySide } : {}), ...(byDirection ? { byDirection } : {}), attention },
    lag: { current: latest.lag, history: src.lag.samples },
    latency: { toCrm: src.latency.toCrm.summary(), toExchange: src.latency.toExchange.summary(), windowMinutes: src.latency.windowMinutes },
    ewsErrors,
    ...(src.accounts ? { accounts: src.accounts() } : {}),
    dlq: await src.dlqSizes(),
    verify: src.verify?.() ?? null,
  };
}
