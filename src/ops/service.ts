import { collectDefaultMetrics, Registry } from 'prom-client';
import type { SyncConfig } from '../config/index.js';
import { Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { startSandbox } from '../sandbox/index.js';
import { startOpsServer, type ReadinessCheck } from './ops-server.js';

export interface RunningService {
  readonly lifecycle: Lifecycle;
  readonly opsUrl: string;
  readonly registry: Registry;
}

/**
 * Starts every part the configuration asks for, in dependency order, registering each
 * with the lifecycle so that shutdown runs in reverse.
 */
export async function startService(config: SyncConfig, logger: Logger): Promise<RunningService> {
  const lifecycle = new Lifecycle({ logger, shutdownTimeoutMs: config.ops.shutdownTimeoutMs });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const readiness: ReadinessCheck[] = [];
  try {
    if (config.exchange.ews.url === null) {
      // No <ews>: the built-in sandbox with demo mailboxes stands in for Exchange.
      const sandbox = await startSandbox({ mailboxes: config.sandbox.mailboxes, itemsPerMailbox: 5, seed: config.sandbox.seed, activity: config.sandbox.activity });
      lifecycle.add('ews-sandbox', () => sandbox.close());
      logger.info({ event: 'sandbox.started', url: sandbox.url, mailboxes: config.sandbox.mailboxes, activity: config.sandbox.activity }, `built-in EWS sandbox on ${sandbox.url}`);
    }
    const ops = await startOpsServer({ host: config.ops.listen.host, port: config.ops.listen.port, registry, logger, readiness });
    lifecycle.add('ops-http', () => ops.close());
    logger.info({ event: 'ops.listening', url: ops.url }, `metrics and health on ${ops.url}`);
    return { lifecycle, opsUrl: ops.url, registry };
  } catch (err) {
    await lifecycle.stop('error');
    throw err;
  }
}
