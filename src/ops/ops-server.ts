import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';

export interface ReadinessCheck {
  name: string;
  /** null when ready, otherwise the reason it is not. */
  check: () => string | null;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  logger: Logger;
  readiness?: ReadinessCheck[];
  /** Extra routes (status JSON, status page), matched on the path. */
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>;
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** /metrics, /healthz, /readyz and whatever routes other parts add. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, logger, readiness = [], routes = {} } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    void handle(path, req, res).catch((err: unknown) => {
      logger.error({ err, path }, 'ops request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });

  async function handle(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (path === '/metrics') {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'alive' }));
      return;
    }
    if (path === '/readyz') {
      const reasons = readiness.map((r) => ({ name: r.name, reason: r.check() })).filter((r) => r.reason !== null);
      res.writeHead(reasons.length ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reasons.length ? { status: 'not ready', reasons } : { status: 'ready' }));
      return;
    }
    const route = routes[path];
    if (route) {
      await route(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.keepAliveTimeout = 5_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
