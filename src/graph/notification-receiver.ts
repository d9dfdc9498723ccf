import { readBody } from '../shared/read-body.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subject } from 'rxjs';
import { notificationsOf, type NotificationInbox, type ReceivedNotification } from './notification-inbox.js';

export interface NotificationReceiverOptions {
  readonly host: string;
  readonly port: number;
  /** The clientState every subscription was made with: a notification without it is not Graph's. */
  readonly clientState: () => Promise<string>;
  /** The URL Graph posts to (a public https URL in front of this listener); default: this listener's own. */
  readonly publicUrl?: string;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The webhook Graph delivers change and lifecycle notifications to: it answers the validation
 * request with the token, checks each notification's clientState, answers 202 at once (Graph
 * wants an answer within 3 s) and hands the notifications on — the work is done after.
 */
export class NotificationReceiver implements NotificationInbox {
  readonly notifications = new Subject<ReceivedNotification>();
  received = 0;
  rejected = 0;
  private server: Server | undefined;
  private started: Promise<void> | undefined;
  private base = '';

  constructor(private readonly options: NotificationReceiverOptions) {}

  /** Starts listening (once); resolves with the URLs to give Graph. */
  async urls(): Promise<{ notificationUrl: string; lifecycleNotificationUrl: string }> {
    this.started ??= this.listen();
    await this.started;
    const base = (this.options.publicUrl ?? this.base).replace(/\/+$/, '');
    return { notificationUrl: `${base}/graph/notifications`, lifecycleNotificationUrl: `${base}/graph/lifecycle` };
  }

  async close(): Promise<void> {
    this.notifications.complete();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res).catch(() => answer(res, 500, '')));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    this.server = server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const lifecycle = url.pathname === '/graph/lifecycle';
    if (req.method !== 'POST' || (!lifecycle && url.pathname !== '/graph/notifications')) {
      req.resume();
      return answer(res, 404, '');
    }
    const token = url.searchParams.get('validationToken');
    if (token !== null) {
      // the validation handshake: the token as Graph sent it, decoded, as plain text
      req.resume();
      return answer(res, 200, token, 'text/plain; charset=utf-8');
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) return answer(res, 413, '');
    let value: unknown[];
    try {
      value = (JSON.parse(body) as { value?: unknown[] }).value ?? [];
    } catch {
      return answer(res, 400, '');
    }
    answer(res, 202, '');
    const { accepted, refused } = notificationsOf(value, await this.options.clientState(), lifecycle ? 'lifecycle' : 'changes');
    this.rejected += refused;
    this.received += accepted.length;
    for (const n of accepted) this.notifications.next(n);
  }
}

function answer(res: ServerResponse, status: number, text: string, contentType = 'text/plain'): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType });
  res.end(text);
}
