import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A WebhookPayload (docs-pages/notification.mdx), the parts the sync reads. */
export interface WebhookEvent {
  readonly EventId?: string;
  readonly Event: string;
  readonly PrimaryKey: number;
  readonly ChangedByAssociateId?: number;
  readonly FieldValues?: Record<string, unknown>;
  readonly Values?: Record<string, unknown>;
}

export interface WebhookReceiverOptions {
  readonly host: string;
  readonly port: number;
  /** The webhook's shared secret: X-SuperOffice-Signature must be base64(HMAC-SHA256(secret, body)). */
  readonly secret: string;
  readonly onEvent: (event: WebhookEvent) => void;
  /** A request refused (bad or missing signature, not JSON): counted, never acted on. */
  readonly onRefused: (reason: string) => void;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Receives SuperOffice's webhook POSTs. The signature is checked over the raw body before
 * anything is parsed; a request without a valid one is answered 401 and ignored. A valid
 * event is answered 200 at once (SuperOffice does not wait for work) and handed on.
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<{ url: string; close(): Promise<void> }> {
  const key = Buffer.from(options.secret, 'utf8');
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        options.onRefused('body too large');
        res.writeHead(413).end();
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
      const body = Buffer.concat(chunks);
      const given = Buffer.from(String(req.headers['x-superoffice-signature'] ?? ''), 'base64');
      const expected = createHmac('sha256', key).update(body).digest();
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        options.onRefused(req.headers['x-superoffice-signature'] ? 'bad signature' : 'no signature');
        return void res.writeHead(401).end();
      }
      let event: WebhookEvent;
      try {
        event = JSON.parse(body.toString('utf8')) as WebhookEvent;
      } catch {
        options.onRefused('not JSON');
        return void res.writeHead(400).end();
      }
      res.writeHead(200).end();
      if (typeof event.Event === 'string' && typeof event.PrimaryKey === 'number') options.onEvent(event);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
