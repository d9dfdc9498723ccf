import { readFileSync } from 'node:fs';
// The peer we compare with: a polling synchroniser as today's products work — every N
// seconds each mailbox's calendar and tasks are asked for changes (SyncFolderItems) and
// changed items fetched (GetItem). It writes nothing: its latency ends when it has the
// item, which flatters it. Runs in its own process, reporting like sync-process.ts.
//   node --import tsx bench/lib/polling-baseline.ts '{"url":…,"mailboxes":[…],"intervalMs":60000}'
import { BackoffGate, EwsClient, type FolderKind } from '../../src/ews/index.js';
import { Limiter } from '../../src/shared/limiter.js';
import type { HandledChange, SyncProcessReply, SyncProcessRequest } from './sync-protocol.js';

interface PollerOptions {
  url: string;
  mailboxes: string[];
  intervalMs: number;
  concurrency: number;
}

// the options, or @FILE holding them (10,000 addresses do not fit in a command line)
const options = JSON.parse(process.argv[2].startsWith('@') ? readFileSync(process.argv[2].slice(1), 'utf8') : process.argv[2]) as PollerOptions;
const send = (message: SyncProcessReply): void => void process.send!(message);
const exchange = new EwsClient({
  settings: { url: options.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 60_000 },
  gate: new BackoffGate(), maxSockets: options.concurrency + 4,
});
const FOLDERS: FolderKind[] = ['calendar', 'tasks'];
const states = new Map<string, string | null>();
const limiter = new Limiter(options.concurrency);
let requests = 0;
let pending: HandledChange[] = [];
let stopping = false;

async function pollMailbox(mailbox: string, report: boolean): Promise<void> {
  for (const folder of FOLDERS) {
    const key = `${mailbox}/${folder}`;
    let more = true;
    while (more) {
      requests++;
      const page = await exchange.syncFolderItems(mailbox, folder, states.get(key) ?? null, 512);
      states.set(key, page.syncState);
      more = !page.includesLastItemInRange;
      if (!report) continue;
      const changed = page.changes.filter((c) => c.type !== 'Delete').map((c) => c.itemId);
      if (changed.length) {
        requests++;
        await exchange.getItems(mailbox, folder, changed);
      }
      const at = Date.now();
      for (const c of page.changes) pending.push({ direction: 'poll', source: `exchange:${mailbox}`, subject: c.itemId, op: c.type === 'Create' ? 'c' : c.type === 'Update' ? 'u' : 'd', version: c.changeKey ?? null, at });
    }
  }
}

async function cycle(report: boolean): Promise<void> {
  await Promise.all(options.mailboxes.map((m) => limiter.run(() => pollMailbox(m, report).catch(() => undefined))));
}

await cycle(false);
const flush = setInterval(() => {
  if (!pending.length) return;
  send({ type: 'handled', changes: pending });
  pending = [];
}, 200);
void (async () => {
  // Every mailbox every N seconds, as scheduled by cycle start (a slow cycle delays the next).
  let next = Date.now() + options.intervalMs;
  while (!stopping) {
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    next = Math.max(next + options.intervalMs, Date.now());
    if (!stopping) await cycle(true);
  }
})();
process.on('message', (m: SyncProcessRequest) => {
  if (m.type === 'stats') {
    const cpu = process.cpuUsage();
    send({ type: 'stats', id: m.id, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss, peakRss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, ewsRequests: requests, graphRequests: 0, notifications: 0, renewals: 0, crmRequests: 0, mailboxes: options.mailboxes.length, initialSyncDone: options.mailboxes.length, active: options.mailboxes.length, lagToCrm: 0, lagToExchange: 0 });
  } else {
    stopping = true;
    clearInterval(flush);
    if (pending.length) send({ type: 'handled', changes: pending });
    void exchange.close().then(() => {
      send({ type: 'stopped' });
      process.exit(0);
    });
  }
});
send({ type: 'ready', opsUrl: '' });
