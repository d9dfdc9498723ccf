// The sync under test, in its own process so that its CPU time and memory are its own:
// `startService` with a configuration file, reporting every handled change (with the
// moment its write committed) to the benchmark over the IPC channel.
//   node --import tsx bench/lib/sync-process.ts CONFIG_FILE
import { loadConfig } from '../../src/config/index.js';
import { startService } from '../../src/ops/service.js';
import { createLogger } from '../../src/shared/logger.js';
import { groupsOf } from '../../src/streams/index.js';
import type { HandledChange, SyncProcessReply, SyncProcessRequest } from './sync-protocol.js';

const send = (message: SyncProcessReply): void => void process.send!(message);
const { config } = loadConfig(process.argv[2], process.env, { requireSecrets: true });
const logger = createLogger({ level: (process.env.ECS_BENCH_LOG_LEVEL as 'warn' | undefined) ?? 'warn' });
const groups = groupsOf(config.transport.topicPrefix);
let pending: HandledChange[] = [];
const service = await startService(config, logger, {
  onApplied: (direction, e, at) => pending.push({ direction, source: e.source, subject: e.subject, op: e.op, version: e.after?.version ?? null, at }),
});
const flush = setInterval(() => {
  if (pending.length === 0) return;
  send({ type: 'handled', changes: pending });
  pending = [];
}, 200);
// Peak RSS, sampled: the figure operators size machines by.
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 500);

process.on('message', (m: SyncProcessRequest) => {
  void (async () => {
    if (m.type === 'stats') {
      const ews = await service.registry.getSingleMetric('ecs_ews_requests_total')?.get();
      const requests = (ews?.values ?? []).reduce((n, v) => n + v.value, 0);
      const graph = await service.registry.getSingleMetric('ecs_graph_requests_total')?.get();
      const graphRequests = (graph?.values ?? []).reduce((n, v) => n + v.value, 0);
      const notify = service.source as unknown as { notifications?: number; renewals?: number };
      const crm = await service.registry.getSingleMetric('ecs_crm_requests_total')?.get();
      const crmRequests = (crm?.values ?? []).reduce((n, v) => n + v.value, 0);
      const { mailboxes, initialSyncDone } = service.source.stats();
      send({
        type: 'stats', id: m.id, cpuMicros: process.cpuUsage().user + process.cpuUsage().system, rss: process.memoryUsage().rss, peakRss,
        heapUsed: process.memoryUsage().heapUsed, ewsRequests: requests, graphRequests, notifications: notify.notifications ?? 0, renewals: notify.renewals ?? 0, crmRequests, mailboxes, initialSyncDone, active: service.source.mailboxes.countByState().active ?? 0,
        lagToCrm: await service.lag.total(groups.toCrm), lagToExchange: await service.lag.total(groups.toExchange),
      });
    } else if (m.type === 'stop') {
      clearInterval(flush);
      clearInterval(sampler);
      if (pending.length) send({ type: 'handled', changes: pending });
      await service.lifecycle.stop('requested');
      send({ type: 'stopped' });
      process.exit(0);
    }
  })().catch((err: unknown) => {
    logger.error({ err }, 'benchmark request failed');
    process.exit(1);
  });
});
send({ type: 'ready', opsUrl: service.opsUrl });
