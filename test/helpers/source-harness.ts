import { BackoffGate } from '../../src/shared/backoff-gate.js';
import { EwsClient } from '../../src/ews/ews-client.js';
import { parseChangeKey } from '../../src/sandbox/ids.js';
import type { ActivityRecord, Sandbox } from '../../src/sandbox/index.js';
import { backoffPolicy } from '../../src/shared/backoff.js';
import { createLogger } from '../../src/shared/logger.js';
import type { MemoryPositionStore } from '../../src/state/position-store.js';
import type { MailboxDirectory } from '../../src/subscriptions/mailbox-directory.js';
import type { MailboxSignal } from '../../src/subscriptions/mailbox-signal.js';
import { PullSource } from '../../src/subscriptions/pull-source.js';
import { StreamSource } from '../../src/subscriptions/stream-source.js';

/** A directory whose list a test changes. */
export class MutableDirectory implements MailboxDirectory {
  readonly description = 'test list';
  constructor(public addresses: string[]) {}
  async list(): Promise<string[]> {
    return [...this.addresses].sort();
  }
}

export interface Seen {
  op: MailboxSignal['op'];
  version: number;
}

/** `ack: false` when another stage (the pipeline under test) acknowledges the signals. */
export function createSource(mode: 'stream' | 'pull', sandbox: Pick<Sandbox, 'url'>, positions: MemoryPositionStore, directory: MailboxDirectory, overrides: Record<string, unknown> = {}, harness: { ack?: boolean } = {}, ews: { impersonation?: boolean; requestTimeoutMs?: number; gate?: BackoffGate } = {}) {
  const exchange = new EwsClient({
    settings: { url: sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: ews.impersonation ?? true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: ews.requestTimeoutMs ?? 10_000 },
    gate: ews.gate ?? new BackoffGate(), maxSockets: 64,
  });
  const common = {
    exchange, positions, directory, logger: createLogger({ level: (process.env.ECS_TEST_LOG_LEVEL as 'info') ?? 'silent' }),
    folders: ['calendar', 'tasks'] as const, windowPastDays: 365, windowFutureDays: 365, refreshMs: 200, concurrency: 24,
    retryPolicy: backoffPolicy({ initialMs: 100, maxMs: 2_000 }), failedRetryMs: 500, coalesceMs: 20, ...overrides,
  };
  const source = mode === 'stream'
    ? new StreamSource({ ...common, maxSubscriptionsPerConnection: 200, connectionLifetimeMs: 60_000, heartbeatTimeoutMs: 3_000, ...overrides })
    : new PullSource({ ...common, intervalMs: 1_000, pullConcurrency: 16, subscriptionTimeoutMinutes: 5, ...overrides });
  const seen = new Map<string, Seen[]>();
  source.signals.subscribe((s) => {
    const list = seen.get(s.itemId) ?? [];
    list.push({ op: s.op, version: s.changeKey ? parseChangeKey(s.changeKey) ?? 0 : 0 });
    seen.set(s.itemId, list);
    // the next stage "has it" a moment later
    if (harness.ack !== false) setTimeout(() => s.ack(), 1);
  });
  return { source, exchange, seen };
}

/**
 * Which journal changes have not surfaced: an item's last change must be seen (its
 * ChangeKey for c/u; a delete for d — unless the item was created and deleted between two
 * syncs and never seen at all, which a sync rightly never reports).
 */
export function unsurfaced(journal: readonly ActivityRecord[], seen: ReadonlyMap<string, Seen[]>): string[] {
  const last = new Map<string, ActivityRecord>();
  const createdInRun = new Set<string>();
  for (const r of journal) {
    last.set(r.itemId, r);
    if (r.op === 'c') createdInRun.add(r.itemId);
  }
  const missing: string[] = [];
  for (const [itemId, r] of last) {
    const signals = seen.get(itemId) ?? [];
    if (r.op === 'd') {
      const deleted = signals.length > 0 && signals[signals.length - 1].op === 'd';
      const neverSeen = signals.length === 0 && createdInRun.has(itemId);
      if (!deleted && !neverSeen) missing.push(`${r.mailbox} ${itemId} delete not seen`);
    } else {
      const version = parseChangeKey(r.changeKey) ?? -1;
      if (!signals.some((s) => s.op !== 'd' && s.version >= version)) missing.push(`${r.mailbox} ${itemId} ${r.op} v${version} not seen (saw ${signals.map((s) => `${s.op}${s.version}`).join(',')})`);
    }
  }
  return missing;
}

/** Per item, ChangeKey versions must never go backwards. */
export function outOfOrder(seen: ReadonlyMap<string, Seen[]>): string[] {
  const bad: string[] = [];
  for (const [itemId, signals] of seen) {
    const versions = signals.filter((s) => s.op !== 'd').map((s) => s.version);
    for (let i = 1; i < versions.length; i++) if (versions[i] < versions[i - 1]) bad.push(`${itemId}: ${versions.join(',')}`);
  }
  return bad;
}

/**
 * Waits until `predicate` holds while `progress` keeps moving: gives up only when nothing has
 * moved for `stallMs` (lost, not slow: a loaded machine only takes longer), or after `maxMs`.
 */
export async function waitWhileProgressing(predicate: () => unknown, progress: () => number, stallMs: number, maxMs: number, what: string): Promise<void> {
  const end = Date.now() + maxMs;
  let last = progress();
  let movedAt = Date.now();
  while (!(await predicate())) {
    const now = Date.now();
    const p = progress();
    if (p !== last) {
      last = p;
      movedAt = now;
    }
    if (now - movedAt > stallMs) throw new Error(`timed out waiting for ${what}: nothing moved for ${stallMs / 1000} s`);
    if (now > end) throw new Error(`timed out waiting for ${what} after ${maxMs / 1000} s (still moving)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitUntil(predicate: () => unknown, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
