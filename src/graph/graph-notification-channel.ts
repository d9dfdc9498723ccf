import { map, type Observable } from 'rxjs';
import type { ChangeSubscription, ChannelEvent, NotificationChannel } from '../exchange/index.js';
import type { GraphHttp } from './graph-http.js';
import type { NotificationInbox } from './notification-inbox.js';

export interface GraphNotificationChannelOptions {
  readonly http: GraphHttp;
  readonly receiver: NotificationInbox;
  readonly clientState: () => Promise<string>;
  /** Requested lifetime of a subscription (Outlook allows events at most 10,080 minutes). */
  readonly lifetimeMinutes: number;
  readonly now?: () => number;
}

/** Graph's change notifications for each mailbox's events, delivered to our webhook or Event Hub. */
export class GraphNotificationChannel implements NotificationChannel {
  readonly events: Observable<ChannelEvent>;
  readonly lifetimeMs: number;
  private readonly now: () => number;

  constructor(private readonly options: GraphNotificationChannelOptions) {
    this.events = options.receiver.notifications.pipe(map((n) => n as ChannelEvent));
    this.lifetimeMs = options.lifetimeMinutes * 60_000;
    this.now = options.now ?? Date.now;
  }

  async target(): Promise<string> {
    return (await this.options.receiver.urls()).notificationUrl;
  }

  async subscribe(mailbox: string): Promise<ChangeSubscription> {
    const urls = await this.options.receiver.urls();
    const r = await this.options.http.call('POST', '/subscriptions', {
      body: {
        changeType: 'created,updated,deleted', resource: `/users/${encodeURIComponent(mailbox)}/events`, ...urls,
        expirationDateTime: new Date(this.now() + this.lifetimeMs).toISOString(), clientState: await this.options.clientState(),
      },
      context: { mailbox },
    });
    return subscriptionOf(r.body);
  }

  async renew(subscriptionId: string): Promise<ChangeSubscription | undefined> {
    const r = await this.options.http.call('PATCH', `/subscriptions/${encodeURIComponent(subscriptionId)}`, { body: { expirationDateTime: new Date(this.now() + this.lifetimeMs).toISOString() }, accept: [404] });
    return r.status === 404 ? undefined : subscriptionOf(r.body);
  }

  async reauthorize(subscriptionId: string): Promise<void> {
    await this.options.http.call('POST', `/subscriptions/${encodeURIComponent(subscriptionId)}/reauthorize`, { accept: [404] });
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    await this.options.http.call('DELETE', `/subscriptions/${encodeURIComponent(subscriptionId)}`, { accept: [404] });
  }
}

function subscriptionOf(body: unknown): ChangeSubscription {
  const s = body as { id?: string; expirationDateTime?: string; notificationUrl?: string };
  return { id: String(s.id ?? ''), expiresAt: Date.parse(String(s.expirationDateTime ?? '')), target: String(s.notificationUrl ?? '') };
}
