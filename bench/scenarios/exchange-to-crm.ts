// Scenario 1 (and 4): Exchange → CRM. The sandbox's activity generator changes items at a
// fixed rate; the sync (stream or pull) carries them through Kafka into the PostgreSQL CRM.
// Latency is from the generator's journal time to the handler's commit; polling peers, if
// asked for, watch the same sandbox and the same activity side by side.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAgreement, fetchInventory, referenceRecords, type Agreement } from '../lib/agreement.js';
import { uniqueName, writeSyncConfig, type BenchEnvironment } from '../lib/environment.js';
import { matchArrivals, percentile, type ArrivedChange, type MadeChange } from '../lib/latency.js';
import { startBenchWorld } from '../lib/bench-world.js';
import type { LatencyProfile } from '../../src/sandbox/index.js';
import { BenchProcess } from '../lib/sync-runner.js';
import type { SyncStats } from '../lib/sync-protocol.js';

export interface ExchangeToCrmParams {
  mailboxes: number;
  mode: 'EwsStream' | 'EwsPull' | 'GraphNotify' | 'GraphDelta';
  /** Graph modes: how often mailboxes (GraphDelta) or their To Do tasks (GraphNotify) are read, and the safety poll. */
  graphPollInterval?: string;
  graphSafetyPoll?: string;
  /** Changes per second made by the generator. */
  rate: number;
  seconds: number;
  seed: number;
  /** Polling peers to run alongside, by interval in seconds. */
  pollers: number[];
  pullInterval: string;
  /** How long the sandbox's EWS takes to answer (none: at once). */
  latency?: LatencyProfile;
}

export interface LatencyFigures {
  changes: number;
  arrived: number;
  /** Created and deleted before it looked: nothing to carry. */
  superseded: number;
  lost: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Changes that arrived per second of activity. */
  appliedPerSecond: number;
  ewsRequests: number;
  ewsRequestsPerChange: number;
}

export interface ExchangeToCrmResult {
  params: ExchangeToCrmParams;
  startup: { seconds: number; mailboxesPerSecond: number; warmupSeconds: number; rssMiB: number; rssPerMailboxKiB: number };
  sync: LatencyFigures & {
    streamingConnections: number; peakRssMiB: number; cpuSecondsPer1000Changes: number;
    /** Graph: the appointments' figures (notified, or polled with GraphDelta) and the tasks' (To Do: always polled), notifications taken per change, subscriptions held and renewed per hour (each at two thirds of its life). */
    graph?: { appointments: LatencyFigures; tasks: LatencyFigures; notificationsPerChange: number; subscriptions: number; renewalsPerHour: number };
  };
  agreement: Agreement;
  pollers: Array<{ intervalSeconds: number } & LatencyFigures>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** "30s", "5m", "1h" as milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

export async function exchangeToCrm(params: ExchangeToCrmParams, env: BenchEnvironment, log: (line: string) => void): Promise<ExchangeToCrmResult> {
  const { mailboxes: M } = params;
  const { sandbox, addresses, db, crmSchema, stateSchema, close } = await startBenchWorld(M, params.seed, env, params.latency);
  const processes: BenchProcess[] = [];
  try {
    const graph = params.mode.startsWith('Graph');
    const config = writeSyncConfig({
      ewsUrl: sandbox.url, mode: params.mode, pullInterval: params.pullInterval, env, crmSchema, stateSchema, topicPrefix: `${uniqueName('bench')}.`,
      ...(graph ? { graph: { ...sandbox.graph, pollInterval: params.graphPollInterval ?? '60s', safetyPoll: params.graphSafetyPoll ?? '15m' } } : {}),
    });
    const started = Date.now();
    const sync = await BenchProcess.start('./sync-process.ts', [config], { ...process.env, ECS_BENCH_EWS_PASSWORD: 'sandbox', ECS_BENCH_GRAPH_SECRET: 'sandbox' });
    processes.push(sync);
    const afterStart = await waitFor('every mailbox subscribed and synced', 20 * 60_000, async () => {
      const s = await sync.stats();
      return s.initialSyncDone >= M ? s : undefined;
    });
    const startupMs = Date.now() - started;
    log(`  ${M} mailboxes (${params.mode}) subscribed and synced in ${(startupMs / 1000).toFixed(1)} s`);
    // Warm-up: the initial sync's rows go through the pipeline before the clock starts.
    let seen = -1;
    await waitFor('the initial sync to drain', 10 * 60_000, async () => {
      const s = await sync.stats();
      const quiet = s.lagToCrm === 0 && sync.handled.length === seen;
      seen = sync.handled.length;
      return quiet ? true : undefined;
    });
    const warmupMs = Date.now() - started;
    const pollers: BenchProcess[] = [];
    for (const interval of params.pollers) {
      const file = join(mkdtempSync(join(tmpdir(), 'ecs-poller-')), 'options.json');
      writeFileSync(file, JSON.stringify({ url: sandbox.url, mailboxes: addresses, intervalMs: interval * 1000, concurrency: 16 }));
      const p = await BenchProcess.start('./polling-baseline.ts', [`@${file}`]);
      processes.push(p);
      pollers.push(p);
    }
    const before = await sync.stats();
    const pollersBefore = await Promise.all(pollers.map((p) => p.stats()));
    const journalStart = ((await (await fetch(`${sandbox.base}/sandbox/activity/journal?limit=0`)).json()) as { counts: { total: number } }).counts.total;
    const handledStart = sync.handled.length;
    const pollStarts = pollers.map((p) => p.handled.length);
    await fetch(`${sandbox.base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: params.rate }) });
    const activityStart = Date.now();
    await sleep(params.seconds * 1000);
    await fetch(`${sandbox.base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: 0 }) });
    const activitySeconds = (Date.now() - activityStart) / 1000;
    const sandboxStats = (await (await fetch(`${sandbox.base}/sandbox/stats`)).json()) as { streamingConnections: number; graph?: { subscriptions: number } };

    // over Graph the sync names items by their Graph ids: the EWS ids made URL-safe
    const made = (await readJournal(sandbox.base, journalStart)).map((c) => (graph ? { ...c, item: c.item.replace(/\//g, '-').replace(/\+/g, '_') } : c));
    const arrivedAt = (p: BenchProcess, from: number): ArrivedChange[] =>
      p.handled.slice(from).filter((c) => c.direction !== 'to-exchange').map((c) => ({ item: `${c.source.slice('exchange:'.length)}|${c.subject}`, op: c.op, version: c.version, at: c.at }));
    // Drain: ours within 60 s; a poller needs up to one interval (and its cycle) more — and so
    // does the sync over Graph, which reads by delta every poll interval (GraphDelta: every
    // folder; GraphNotify: To Do, of which Graph notifies no app)
    // (two intervals: at 10,000 mailboxes a round of Graph reads outlasts the interval)
    const polledMs = graph ? 2 * durationMs(params.graphPollInterval ?? '60s') : 0;
    await waitFor('the sync to apply every change', 60_000 + polledMs, async () => (matchArrivals(made, arrivedAt(sync, handledStart)).lost.length === 0 ? true : undefined)).catch(() => undefined);
    const after = await sync.stats();
    const ours = matchArrivals(made, arrivedAt(sync, handledStart));
    const ewsInventory = await fetchInventory(sandbox.base);
    const inventory = graph
      ? Object.fromEntries(Object.entries(ewsInventory).map(([m, items]) => [m, Object.fromEntries(Object.entries(items).map(([id, key]) => [id.replace(/\//g, '-').replace(/\+/g, '_'), key]))]))
      : ewsInventory;
    const agreement = await checkAgreement(db, stateSchema, await referenceRecords(db, crmSchema), inventory);

    const pollerFigures: ExchangeToCrmResult['pollers'] = [];
    for (const [i, p] of pollers.entries()) {
      await waitFor(`the ${params.pollers[i]} s poller to see every change`, (params.pollers[i] + 60) * 1000, async () =>
        matchArrivals(made, arrivedAt(p, pollStarts[i])).lost.length === 0 ? true : undefined).catch(() => undefined);
      const s = await p.stats();
      pollerFigures.push({ intervalSeconds: params.pollers[i], ...figures(made, matchArrivals(made, arrivedAt(p, pollStarts[i])), activitySeconds, s.ewsRequests - pollersBefore[i].ewsRequests) });
    }
    const requests = graph ? after.graphRequests - before.graphRequests : after.ewsRequests - before.ewsRequests;
    const mine = figures(made, ours, activitySeconds, requests);
    const byKind = (kind: string): LatencyFigures => {
      const some = made.filter((c) => c.kind === kind);
      return figures(some, matchArrivals(some, arrivedAt(sync, handledStart)), activitySeconds, requests);
    };
    const subscriptions = sandboxStats.graph?.subscriptions ?? 0;
    const lifetimeHours = 4_320 / 60;
    const graphFigures = graph ? {
      appointments: byKind('CalendarItem'), tasks: byKind('Task'),
      notificationsPerChange: round((after.notifications - before.notifications) / Math.max(1, made.length), 2),
      subscriptions, renewalsPerHour: round(subscriptions / ((lifetimeHours * 2) / 3), 1),
    } : undefined;
    return {
      params,
      startup: {
        seconds: round(startupMs / 1000, 1), mailboxesPerSecond: Math.round((M / startupMs) * 1000), warmupSeconds: round(warmupMs / 1000, 1),
        rssMiB: mib(afterStart.rss), rssPerMailboxKiB: Math.round(afterStart.rss / M / 1024),
      },
      sync: { ...mine, streamingConnections: sandboxStats.streamingConnections, peakRssMiB: mib(after.peakRss), cpuSecondsPer1000Changes: cpuPer1000(before, after, made.length), ...(graphFigures ? { graph: graphFigures } : {}) },
      agreement,
      pollers: pollerFigures,
    };
  } finally {
    for (const p of processes) await p.stop().catch(() => undefined);
    await close();
  }
}

interface JournalRecord { n: number; time: number; mailbox: string; op: 'c' | 'u' | 'd'; kind: string; itemId: string; changeKey: string }

async function readJournal(base: string, after: number): Promise<MadeChange[]> {
  const made: MadeChange[] = [];
  for (let from = after; ;) {
    const { records } = (await (await fetch(`${base}/sandbox/activity/journal?after=${from}&limit=50000`)).json()) as { records: JournalRecord[] };
    if (records.length === 0) return made;
    for (const r of records) made.push({ item: `${r.mailbox}|${r.itemId}`, op: r.op, version: r.changeKey, time: r.time, kind: r.kind });
    from = records[records.length - 1].n;
  }
}

export function figures(made: readonly MadeChange[], arrival: ReturnType<typeof matchArrivals>, seconds: number, ewsRequests: number): LatencyFigures {
  const l = arrival.latenciesMs;
  return {
    changes: made.length, arrived: l.length, superseded: arrival.superseded, lost: arrival.lost.length,
    p50Ms: percentile(l, 50), p95Ms: percentile(l, 95), p99Ms: percentile(l, 99), maxMs: percentile(l, 100),
    appliedPerSecond: round(l.length / seconds, 1), ewsRequests, ewsRequestsPerChange: round(ewsRequests / Math.max(1, made.length), 2),
  };
}

export const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;
export const mib = (bytes: number): number => Math.round(bytes / 1_048_576);
export const cpuPer1000 = (before: SyncStats, after: SyncStats, changes: number): number => round((after.cpuMicros - before.cpuMicros) / 1e6 / Math.max(1, changes / 1000), 2);
