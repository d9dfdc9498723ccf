// The Exchange side at scale: N mailboxes subscribed (stream or pull) against the sandbox in
// its own process; time until every mailbox is active, connections, this process's memory,
// and change signals under activity.
//   node --import tsx bench/subscriptions-scale.ts [--mailboxes 10000] [--mode stream|pull] [--rate 100] [--seconds 15]
import { BackoffGate, EwsClient } from '../src/ews/index.js';
import { backoffPolicy } from '../src/shared/backoff.js';
import { silentLogger } from '../src/shared/logger.js';
import { MemoryPositionStore } from '../src/state/index.js';
import { StaticDirectory } from '../src/subscriptions/mailbox-directory.js';
import { PullSource } from '../src/subscriptions/pull-source.js';
import { StreamSource } from '../src/subscriptions/stream-source.js';
import { startSandboxProcess } from './lib/sandbox-process.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const mailboxes = Number(arg('mailboxes', '10000'));
const mode = arg('mode', 'stream');
const rate = Number(arg('rate', '100'));
const seconds = Number(arg('seconds', '15'));
const { child, url, base } = await startSandboxProcess(['--mailboxes', String(mailboxes), '--items-per-mailbox', '5']);
const width = Math.max(4, String(mailboxes).length);
const addresses = Array.from({ length: mailboxes }, (_, i) => `user${String(i + 1).padStart(width, '0')}@contoso.test`);
const exchange = new EwsClient({ settings: { url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 60_000 }, gate: new BackoffGate(), maxSockets: 64 });
const common = {
  exchange, positions: new MemoryPositionStore(), directory: new StaticDirectory(addresses), logger: silentLogger(), folders: ['calendar', 'tasks'] as const,
  windowPastDays: 30, windowFutureDays: 365, refreshMs: 600_000, concurrency: 32, retryPolicy: backoffPolicy({ initialMs: 500, maxMs: 30_000 }), failedRetryMs: 600_000, coalesceMs: 50,
};
const source = mode === 'pull'
  ? new PullSource({ ...common, intervalMs: 10_000, pullConcurrency: 32, subscriptionTimeoutMinutes: 30 })
  : new StreamSource({ ...common, maxSubscriptionsPerConnection: 200, connectionLifetimeMs: 29 * 60_000, heartbeatTimeoutMs: 90_000 });
let signals = 0;
source.signals.subscribe((s) => {
  signals++;
  s.ack();
});
const started = Date.now();
source.start();
while (source.stats().initialSyncDone < mailboxes) await new Promise((r) => setTimeout(r, 250));
const startupMs = Date.now() - started;
const initialSignals = signals;
const rssAfterStart = process.memoryUsage().rss;
await fetch(`${base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate }) });
await new Promise((r) => setTimeout(r, seconds * 1_000));
await fetch(`${base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: 0 }) });
await new Promise((r) => setTimeout(r, 3_000));
const stats = (await (await fetch(`${base}/sandbox/stats`)).json()) as { activity: { total: number }; requestsByOperation: Record<string, number>; streamingConnections: number };
console.log(JSON.stringify({
  mode, mailboxes, startupSeconds: Math.round(startupMs / 100) / 10, mailboxesPerSecond: Math.round((mailboxes / startupMs) * 1000),
  streamingConnections: stats.streamingConnections, initialSignals, changesMade: stats.activity.total, changeSignals: signals - initialSignals,
  rssMiB: Math.round(rssAfterStart / 1_048_576), rssPerMailboxKiB: Math.round(rssAfterStart / mailboxes / 1024), ewsRequests: stats.requestsByOperation,
}, null, 1));
await source.stop();
await exchange.close();
child.kill('SIGINT');
process.exit(0);
