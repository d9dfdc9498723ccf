import type { IncomingMessage, ServerResponse } from 'node:http';
import { changeKeyOf, itemIdOf } from './ids.js';
import { HOSTILE_MODES, type HostileMode, type Sandbox } from './sandbox.js';
import { LATENCY_PROFILES, type LatencyProfile } from './latency-model.js';

/**
 * The sandbox's JSON control API under /sandbox/, for tests, demos and benchmarks:
 * restart, throttle, latency, drop connections, the clock, activity and statistics.
 */
const LIMITS: Record<string, readonly [number, number]> = {
  count: [1, 100_000],
  rate: [0, 10_000],
  burst: [0, 100_000],
  ms: [0, 600_000],
  advanceMs: [0, 366 * 86_400_000],
  probability: [0, 1],
  backOffMilliseconds: [0, 600_000],
  retryAfterSeconds: [0, 3_600],
  seconds: [0, 86_400],
  graceSeconds: [0, 86_400],
};

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);
}

export async function handleControl(sandbox: Sandbox, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  // The control API restarts, throttles and fills the sandbox: only for this machine's own
  // tests and demos, whatever address the sandbox was bound to.
  if (!isLoopback(req.socket.remoteAddress)) return reply(403, { error: 'the control API answers only on loopback (127.0.0.1, ::1)' });
  let input: Record<string, unknown> = {};
  if (req.method === 'POST') {
    const text = await new Promise<string>((resolve, reject) => {
      let data = '';
      req.on('data', (c: Buffer) => {
        data += c.toString();
        if (data.length > 1_000_000) req.destroy();
      });
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });
    try {
      input = text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return reply(400, { error: 'the body must be JSON' });
    }
  }
  const num = (key: string, fallback?: number): number | undefined => {
    const v = input[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
  };
  // every number has a range: one request must not make a hundred million mailboxes
  const beyond = Object.entries(LIMITS).find(([key, [min, max]]) => input[key] !== undefined && input[key] !== null && (typeof input[key] !== 'number' || !((input[key] as number) >= min && (input[key] as number) <= max)));
  if (beyond) return reply(400, { error: `${beyond[0]} must be a number from ${beyond[1][0]} to ${beyond[1][1]}` });
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'POST /sandbox/restart':
      sandbox.restart();
      return reply(200, { restarted: true });
    case 'POST /sandbox/throttle': {
      const probability = num('probability');
      if (probability === undefined || probability < 0 || probability > 1) return reply(400, { error: 'probability must be a number from 0 to 1' });
      const operations = Array.isArray(input.operations) ? input.operations.filter((o): o is string => typeof o === 'string') : undefined;
      sandbox.throttle(probability, num('backOffMilliseconds', 2_000), operations);
      return reply(200, { probability, backOffMilliseconds: num('backOffMilliseconds', 2_000) });
    }
    case 'POST /sandbox/hostile': {
      const mode = input.mode === null || input.mode === 'none' ? null : String(input.mode ?? '');
      if (mode !== null && !(HOSTILE_MODES as readonly string[]).includes(mode)) return reply(400, { error: `mode must be one of ${HOSTILE_MODES.join(', ')} or none` });
      const operations = Array.isArray(input.operations) ? input.operations.filter((o): o is string => typeof o === 'string') : undefined;
      sandbox.hostile(mode as HostileMode | null, num('probability', 1), operations);
      return reply(200, { mode, probability: num('probability', 1) });
    }
    case 'POST /sandbox/drop-connections':
      return reply(200, { dropped: sandbox.dropConnections() });
    case 'POST /sandbox/latency': {
      if (input.profile !== undefined) {
        if (!(LATENCY_PROFILES as readonly unknown[]).includes(input.profile)) return reply(400, { error: `profile must be one of ${LATENCY_PROFILES.join(', ')}` });
        sandbox.setLatencyProfile(input.profile as LatencyProfile);
        return reply(200, { profile: input.profile });
      }
      const ms = num('ms');
      if (ms === undefined || ms < 0) return reply(400, { error: 'ms must be a number ≥ 0' });
      const operations = Array.isArray(input.operations) ? input.operations.filter((o): o is string => typeof o === 'string') : undefined;
      sandbox.setLatency(ms, operations);
      return reply(200, { ms, ...(operations?.length ? { operations } : {}) });
    }
    case 'POST /sandbox/clock': {
      const advanceMs = num('advanceMs');
      if (advanceMs === undefined || advanceMs < 0) return reply(400, { error: 'advanceMs must be a number ≥ 0' });
      sandbox.advanceClock(advanceMs);
      return reply(200, { now: new Date(sandbox.now()).toISOString() });
    }
    case 'POST /sandbox/activity': {
      const rate = num('rate');
      const burst = num('burst');
      if (rate === undefined && burst === undefined) return reply(400, { error: 'give rate (changes per second) or burst (a number of changes)' });
      if (rate !== undefined) sandbox.activity.setRate(rate);
      if (burst !== undefined) sandbox.activity.burst(Math.floor(burst));
      return reply(200, { rate: sandbox.activity.rate, counts: sandbox.activity.counts });
    }
    case 'GET /sandbox/activity/journal': {
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const after = Number(url.searchParams.get('after') ?? 0);
      const limit = Math.min(100_000, Number(url.searchParams.get('limit') ?? 10_000));
      const records = sandbox.activity.journal.filter((r) => r.n > after).slice(0, limit);
      return reply(200, { counts: sandbox.activity.counts, records });
    }
    case 'POST /sandbox/mailboxes': {
      const count = num('count');
      if (count !== undefined) sandbox.store.ensureMailboxes(Math.floor(count));
      const add = Array.isArray(input.add) ? input.add.filter((a): a is string => typeof a === 'string') : [];
      for (const address of add) sandbox.store.addMailbox(address);
      if (typeof input.deny === 'string') {
        const mailbox = sandbox.store.byEmail(input.deny);
        if (!mailbox) return reply(404, { error: `no mailbox ${input.deny}` });
        mailbox.denied = input.denied !== false;
      }
      return reply(200, { mailboxes: sandbox.store.size });
    }
    case 'POST /sandbox/move': {
      // a hybrid organisation's mailbox moves: {mailboxes: [...], to: "online" | "on-premises" | "anywhere", seconds}
      const mailboxes = Array.isArray(input.mailboxes) ? input.mailboxes.filter((a): a is string => typeof a === 'string') : typeof input.mailbox === 'string' ? [input.mailbox] : [];
      if (!mailboxes.length) return reply(400, { error: 'give mailbox (an address) or mailboxes (a list)' });
      if (input.to !== 'online' && input.to !== 'on-premises' && input.to !== 'anywhere') return reply(400, { error: 'to must be online, on-premises or anywhere' });
      const unknown = mailboxes.find((a) => !sandbox.store.byEmail(a));
      if (unknown) return reply(404, { error: `no mailbox ${unknown}` });
      const moved = sandbox.moveMailboxes(mailboxes, input.to, num('seconds', 0));
      return reply(200, { moved: moved.map((m) => m.address), to: input.to, until: new Date(Math.max(...moved.map((m) => m.movingUntil))).toISOString() });
    }
    case 'GET /sandbox/inventory': {
      // What each mailbox's calendar and tasks hold now: ItemId → ChangeKey (benchmarks and
      // convergence checks compare it with the CRM).
      const inventory: Record<string, Record<string, string>> = {};
      for (const mailbox of sandbox.store.all()) {
        const items: Record<string, string> = {};
        for (const folder of ['calendar', 'tasks']) for (const item of sandbox.store.itemsIn(mailbox, folder)) items[itemIdOf(mailbox.index, item.seq)] = changeKeyOf(item.version);
        inventory[mailbox.address] = items;
      }
      return reply(200, inventory);
    }
    case 'GET /sandbox/contact-folders': {
      // One mailbox's contact folders: each contact's CRM stamp (the sync's extended
      // property), or "" when it has none — benchmarks and convergence checks count them.
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const mailbox = sandbox.store.byEmail(url.searchParams.get('mailbox') ?? '');
      if (!mailbox) return reply(404, { error: 'give ?mailbox=<a sandbox mailbox>' });
      const folders: Record<string, string[]> = {};
      for (const folder of mailbox.folders.values()) {
        if (!folder.folderClass.startsWith('IPF.Contact')) continue;
        folders[folder.displayName] = sandbox.store.itemsIn(mailbox, folder.key).map((item) => {
          const stamp = [...item.extended.values()].find((e) => e.uri.attrs.PropertyName === 'ExchangeCrmSyncId');
          return typeof stamp?.value === 'string' ? stamp.value : '';
        });
      }
      return reply(200, folders);
    }
    case 'POST /sandbox/graph/throttle': {
      // a 429 storm on the Graph endpoint: this share of requests, each with its Retry-After
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      const probability = num('probability');
      if (probability === undefined) return reply(400, { error: 'probability must be a number from 0 to 1' });
      sandbox.graph.throttle(probability, num('retryAfterSeconds', 2));
      return reply(200, { probability, retryAfterSeconds: num('retryAfterSeconds', 2) });
    }
    case 'POST /sandbox/graph/drop-notifications': {
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      const seconds = num('seconds');
      if (seconds === undefined) return reply(400, { error: 'seconds must be a number from 0 to 86400' });
      sandbox.graph.subscriptions.dropNotifications(seconds * 1000);
      return reply(200, { droppingForSeconds: seconds });
    }
    case 'POST /sandbox/graph/remove-subscriptions':
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      return reply(200, { removed: sandbox.graph.subscriptions.removeAll() });
    case 'POST /sandbox/graph/missed':
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      return reply(200, { told: sandbox.graph.subscriptions.reportMissed() });
    case 'POST /sandbox/graph/reauthorization-required': {
      // every subscription told reauthorizationRequired (tell: false, not yet); its notifications stop after graceSeconds until reauthorized
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      const grace = num('graceSeconds', 0);
      if (grace === undefined) return reply(400, { error: 'graceSeconds must be a number from 0 to 86400' });
      const tell = (input as { tell?: unknown }).tell !== false;
      const subscriptions = sandbox.graph.subscriptions.requireReauthorization(grace * 1000, tell);
      return reply(200, { subscriptions, told: tell ? subscriptions : 0, graceSeconds: grace });
    }
    case 'POST /sandbox/graph/key-vault': {
      // a Key Vault secret holding an Event Hub's connection string, for EventHub:… notification URLs
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      const b = input as { secretUrl?: unknown; connectionString?: unknown };
      if (typeof b.secretUrl !== 'string' || !/^https:\/\/[^/]+\.vault\.azure\.net\/secrets\/[^?]+$/i.test(b.secretUrl) || typeof b.connectionString !== 'string') {
        return reply(400, { error: 'secretUrl (https://<vault>.vault.azure.net/secrets/<name>) and connectionString (Endpoint=sb://127.0.0.1:<kafka port>/;EntityPath=<topic>) are needed' });
      }
      try {
        sandbox.graph.subscriptions.eventHubs.setSecret(b.secretUrl, b.connectionString);
      } catch (err) {
        return reply(400, { error: (err as Error).message });
      }
      return reply(200, { stored: b.secretUrl });
    }
    case 'POST /sandbox/graph/lose-delta-tokens':
      if (!sandbox.graph) return reply(404, { error: 'this sandbox serves no Microsoft Graph (start it with oauth and graph)' });
      sandbox.graph.loseDeltaTokens();
      return reply(200, { lost: true });
    case 'GET /sandbox/stats':
      return reply(200, statsOf(sandbox));
    default:
      return reply(404, { error: `unknown control endpoint ${route}` });
  }
}

export function statsOf(sandbox: Sandbox): Record<string, unknown> {
  const { stats } = sandbox;
  return {
    uptimeMs: Date.now() - stats.startedAt,
    mailboxes: sandbox.store.size,
    items: sandbox.store.itemCount(),
    requests: stats.totalRequests(),
    requestsByOperation: Object.fromEntries(stats.requestsByOperation),
    errorsByCode: Object.fromEntries(stats.errorsByCode),
    subscriptions: sandbox.subscriptions.counts(),
    streamingConnections: sandbox.openConnections.size,
    streamingConnectionsOpened: stats.streamingConnectionsOpened,
    notificationEnvelopes: stats.notificationEnvelopes,
    meetingMessages: stats.meetingMessages,
    throttle: { busyAnswers: stats.throttled, backoffViolations: stats.backoffViolations, worstShortfallMs: stats.worstBackoffShortfallMs, concurrencyRefusals: stats.concurrencyRefusals },
    authFailures: stats.authFailures,
    fullSyncs: stats.fullSyncs,
    latency: { ...sandbox.latency, meanMs: sandbox.latency.delayed ? Math.round(sandbox.latency.totalMs / sandbox.latency.delayed) : 0 },
    activity: { rate: sandbox.activity.rate, ...sandbox.activity.counts },
    schemaViolations: stats.schemaViolations.length,
    ...(sandbox.graph ? {
      graph: {
        requests: sandbox.graph.totalRequests(), requestsByRoute: Object.fromEntries(sandbox.graph.requests), throttled: sandbox.graph.throttled,
        subscriptions: sandbox.graph.subscriptions.size, notificationsDelivered: sandbox.graph.subscriptions.delivered, notificationsDropped: sandbox.graph.subscriptions.dropped,
        failedDeliveries: sandbox.graph.subscriptions.failedDeliveries,
      },
    } : {}),
    memory: { rssBytes: process.memoryUsage().rss, heapUsedBytes: process.memoryUsage().heapUsed },
  };
}
