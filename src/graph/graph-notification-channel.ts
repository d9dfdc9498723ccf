import { map, type Observable } from 'rxjs';
import type { ChangeSubscription, ChannelEvent, FolderKind, NotificationChannel } from '../exchange/index.js';
import type { GraphHttp } from './graph-http.js';
import type { NotificationInbox } from './notification-inbox.js';

export interface GraphNotificationChannelOptions {
  readonly http: GraphHttp;
  readonly receiver: NotificationInbox;
  readonly clientState: () => Promise<string>;
  /** Requested lifetime of a subscription (Outlook allows events at most 10,080 minutes). */
  readonly lifetimeMinutes: number;
  /** What of each mailbox is watched: its events, and its contacts when they are synced (one Graph subscription each). */
  readonly resources?: ReadonlyArray<'events' | 'contacts'>;
  readonly now?: () => number;
}

/** Graph's change notifications for each mailbox's events, delivered to our webhook or Event Hub. */
export class GraphNotificationChannel implements NotificationChannel {
  readonly events: Observable<ChannelEvent>;
  readonly lifetimeMs: number;
  readonly folders: readonly FolderKind[];
  private readonly now: () => number;

  constructor(private readonly options: GraphNotificationChannelOptions) {
    this.events = options.receiver.notifications.pipe(map((n) => n as ChannelEvent));
    this.lifetimeMs = options.lifetimeMinutes * 60_000;
    this.folders = (options.resources ?? ['events']).map((r) => (r === 'events' ? 'calendar' : 'contacts'));
    this.now = options.now ?? Date.now;
  }

  /** Where notifications go, and what they watch (a change of either means new subscriptions). */
  async target(): Promise<string> {
    const resources = this.options.resources ?? ['events'];
    const url = (await this.options.receiver.urls()).notificationUrl;
    return resources.length === 1 && resources[0] === 'events' ? url : `${url} (${resources.join(', ')})`;
  }

  /** One Graph subscription per resource, standing together as one (ids joined by a space). */
  async subscribe(mailbox: string): Promise<ChangeSubscription> {
    const urls = await this.options.receiver.urls();
    const made: ChangeSubscription[] = [];
    try {
      for (const resource of this.options.resources ?? ['events']) {
        const r = await this.options.http.call('POST', '/subscriptions', {
          body: {
            changeType: 'created,updated,deleted', resource: `/users/${encodeURIComponent(mailbox)}/${resource}`, ...urls,
            expirationDateTime: new Date(this.now() + this.lifetimeMs).toISOString(), clientState: await this.options.clientState(),
          },
          context: { mailbox, resource },
        });
        made.push(subscriptionOf(r.body));
      }
    } catch (err) {
      // all or none: the ones made are removed again
      for (const s of made) await this.unsubscribe(s.id).catch(() => undefined);
      throw err;
    }
    return { ...together(made), target: await this.target() };
  }

  /** Renews each; when one is gone the others are removed too (undefined: subscribe again). */
  async renew(subscriptionId: string): Promise<ChangeSubscription | undefined> {
    const renewed: ChangeSubscription[] = [];
    for (const id of subscriptionId.split(' ')) {
      const r = await this.options.http.call('PATCH', `/subscriptions/${encodeURIComponent(id)}`, { body: { expirationDateTime: new Date(this.now() + this.lifetimeMs).toISOString() }, accept: [404] });
      if (r.status === 404) {
        await this.unsubscribe(subscriptionId);
        return undefined;
      }
      renewed.push(subscriptionOf(r.body));
    }
    return { ...together(renewed), target: await this.target() };
  }

  async reauthorize(subscriptionId: string): Promise<void> {
    for (const id of subscriptionId.split(' ')) await this.options.http.call('POST', `/subscriptions/${encodeURIComponent(id)}/reauthorize`, { accept: [404] });
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    for (const id of subscriptionId.split(' ')) await this.options.http.call('DELETE', `/subscriptions/${encodeURIComponent(id)}`, { accept: [404] });
  }
}

/** Several of Graph's subscriptions as one: the first to end ends it. */
function together(parts: readonly ChangeSubscription[]): ChangeSubscription {
  if (parts.length === 1) return parts[0];
  return { id: parts.map((p) => p.id).join(' '), ids: parts.map((p) => p.id), expiresAt: Math.min(...parts.map((p) => p.expiresAt)), target: parts[0].target };
}

function subscriptionOf(body: unknown): ChangeSubscription {
  const s = body as { id?: string; expirationDateTime?: string; notificationUrl?: string };
  return { id: String(s.id ?? ''), expiresAt: Date.parse(String(s.expirationDateTime ?? '')), target: String(s.notificationUrl ?? '') };
}
