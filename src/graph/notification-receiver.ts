import { timingSafeEqual } from 'node:crypto';
import { readBody } from '../shared/read-body.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subject } from 'rxjs';

/** What arrived: a change on a subscription, or a lifecycle event of one. */
export type ReceivedNotification =
  | { readonly kind: 'changed'; readonly subscriptionId: string }
  | { readonly kind: 'subscriptionRemoved' | 'missed' | 'reauthorizationRequired'; readonly subscriptionId: string };

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
export class NotificationReceiver {
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
    const expected = Buffer.from(await this.options.clientState());
    for (const entry of value) {
      const n = entry as { subscriptionId?: unknown; clientState?: unknown; lifecycleEvent?: unknown; changeType?: unknown };
      const state = Buffer.from(typeof n.clientState === 'string' ? n.clientState : '');
      if (typeof n.subscriptionId !== 'string' || state.length !== expected.length || !timingSafeEqual(state, expected)) {
        this.rejected++;
        continue;
      }
      this.received++;
      if (lifecycle && (n.lifecycleEvent === 'subscriptionRemoved' || n.lifecycleEvent === 'missed' || n.lifecycleEvent === 'reauthorizationRequired')) {
        this.notifications.next({ kind: n.lifecycleEvent, subscriptionId: n.subscriptionId });
      } else if (!lifecycle) this.notifications.next({ kind: 'changed', subscriptionId: n.subscriptionId });
    }
  }
}

function answer(res: ServerResponse, status: number, text: string, contentType = 'text/plain'): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType });
  res.end(text);
}
