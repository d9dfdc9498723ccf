import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseItemId } from '../ids.js';
import type { Mailbox, MailboxEvent, MailboxStore } from '../mailbox-store.js';
import { EventHubDelivery } from './event-hub-delivery.js';
import { GraphError } from './event-json.js';
import { graphIdOf, restIdOf } from './graph-ids.js';

/** Outlook's numbers (concepts/includes/change-notifications-subscription-lifetime.md, outlook-change-notifications-overview.md). */
export const MAX_LIFETIME_MINUTES = 10_080;
export const MAX_SUBSCRIPTIONS_PER_MAILBOX = 1_000;
/** The endpoint must answer the validation request within 10 s, and a notification within 3 s. */
const VALIDATION_TIMEOUT_MS = 10_000;
const DELIVERY_TIMEOUT_MS = 3_000;
/** A notification not delivered is tried again for up to 4 hours, then dropped. */
const RETRY_FOR_MS = 4 * 3_600_000;
/** Notifications of one burst to one URL travel in one POST. */
const BATCH_MS = 50;

type ChangeType = 'created' | 'updated' | 'deleted';

export interface GraphSubscription {
  readonly id: string;
  readonly app: string;
  readonly mailbox: number;
  readonly resource: string;
  /** The folder its resource is: the calendar (/events) or Contacts (/contacts). */
  readonly folder: 'calendar' | 'contacts';
  readonly changeTypes: ReadonlySet<ChangeType>;
  readonly notificationUrl: string;
  readonly lifecycleNotificationUrl?: string;
  readonly clientState?: string;
  expiresAt: number;
  /** Told reauthorizationRequired: its notifications stop from this time until it is reauthorized or renewed. */
  pausedFrom?: number;
}

interface Pending {
  body: { value: unknown[] };
  firstTriedAt: number;
  attempts: number;
}

/**
 * Graph's change-notification subscriptions on the sandbox's mailbox store: created after the
 * notification URL answers the validation request, renewed, deleted, reauthorized; item
 * changes of a subscribed calendar delivered to the URL in batches (retried when the endpoint
 * does not answer 2xx within 3 s), lifecycle notifications (`subscriptionRemoved`, `missed`
 * and `reauthorizationRequired`, after which a subscription's notifications stop until it is
 * reauthorized) to the lifecycle URL. Faults: notifications dropped, every subscription removed.
 */
export class GraphSubscriptions {
  private readonly byId = new Map<string, GraphSubscription>();
  private readonly queues = new Map<string, unknown[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private dropUntil = 0;
  private unlisten: (() => void) | undefined;
  /** Delivery to Event Hubs ("EventHub:…" notification URLs) and the key vault it reads their connection strings from. */
  readonly eventHubs = new EventHubDelivery();
  delivered = 0;
  dropped = 0;
  /** Notifications not sent because their subscription waited to be reauthorized. */
  pausedDrops = 0;
  /** Reauthorizations asked for (POST /subscriptions/{id}/reauthorize). */
  reauthorized = 0;
  failedDeliveries = 0;

  constructor(private readonly options: { store: MailboxStore; now: () => number; tenantId: string }) {
    this.unlisten = options.store.onEvent((mailbox, event) => this.onEvent(mailbox, event));
  }

  get size(): number {
    return this.byId.size;
  }

  close(): void {
    void this.eventHubs.close();
    this.unlisten?.();
    this.unlisten = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** POST /subscriptions. */
  async create(app: string, body: Record<string, unknown>, mailboxOf: (user: string) => Mailbox): Promise<GraphSubscription> {
    const resource = String(body.resource ?? '');
    const m = /^\/?users\/([^/]+)\/(events|contacts)$/i.exec(resource);
    if (!m) throw new GraphError(400, 'InvalidRequest', `The sandbox takes subscriptions on /users/{id}/events and /users/{id}/contacts, not '${resource}'.`);
    const folder = m[2].toLowerCase() === 'events' ? 'calendar' as const : 'contacts' as const;
    const mailbox = mailboxOf(decodeURIComponent(m[1]));
    const changeTypes = new Set(String(body.changeType ?? '').split(',').map((c) => c.trim()).filter(Boolean));
    if (!changeTypes.size || [...changeTypes].some((c) => !['created', 'updated', 'deleted'].includes(c))) throw new GraphError(400, 'InvalidRequest', `changeType must be created, updated and/or deleted, not '${String(body.changeType ?? '')}'.`);
    const notificationUrl = String(body.notificationUrl ?? '');
    const lifecycleNotificationUrl = body.lifecycleNotificationUrl === undefined ? undefined : String(body.lifecycleNotificationUrl);
    for (const url of [notificationUrl, lifecycleNotificationUrl].filter((u): u is string => u !== undefined)) {
      if (EventHubDelivery.isEventHubUrl(url)) this.eventHubs.target(url);
      else checkUrl(url);
    }
    const expiresAt = Date.parse(String(body.expirationDateTime ?? ''));
    const now = this.options.now();
    if (!Number.isFinite(expiresAt) || expiresAt <= now) throw new GraphError(400, 'InvalidRequest', 'expirationDateTime must be a time in the future.');
    if (expiresAt > now + MAX_LIFETIME_MINUTES * 60_000) throw new GraphError(400, 'InvalidRequest', `Subscription expiration can only be ${MAX_LIFETIME_MINUTES} minutes in the future.`);
    const clientState = body.clientState === undefined ? undefined : String(body.clientState);
    if (clientState !== undefined && clientState.length > 255) throw new GraphError(400, 'InvalidRequest', 'clientState can be up to 255 characters.');
    this.sweep();
    if ([...this.byId.values()].filter((s) => s.mailbox === mailbox.index).length >= MAX_SUBSCRIPTIONS_PER_MAILBOX) {
      throw new GraphError(403, 'ExtensionError', `The mailbox has reached the limit of ${MAX_SUBSCRIPTIONS_PER_MAILBOX} subscriptions.`);
    }
    // the endpoint proves it is there and ours: it echoes a token within 10 s, or no subscription is made
    for (const url of new Set([notificationUrl, lifecycleNotificationUrl].filter((u): u is string => u !== undefined))) {
      const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
      if (EventHubDelivery.isEventHubUrl(url)) {
        // an Event Hub is not asked to answer: the validation message is written to it, to be ignored
        await this.eventHubs.send(url, { value: [{ subscriptionId: 'NA', subscriptionExpirationDateTime: 'NA', clientState: 'NA', changeType: token, resource: 'NA', resourceData: { '@odata.type': 'NA', '@odata.id': 'NA', id: 'NA' } }] })
          .catch((err: Error) => { throw new GraphError(400, 'ValidationError', `Subscription validation request failed: the Event Hub did not take the validation message (${err.message}).`); });
        continue;
      }
      const answer = await post(`${url}${url.includes('?') ? '&' : '?'}validationToken=${encodeURIComponent(token)}`, '', 'text/plain; charset=utf-8', VALIDATION_TIMEOUT_MS).catch((err: Error) => ({ status: 0, text: err.message }));
      if (answer.status !== 200 || answer.text !== token) {
        throw new GraphError(400, 'ValidationError', `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request (${url} answered ${answer.status}).`);
      }
    }
    const subscription: GraphSubscription = { id: randomUUID(), app, mailbox: mailbox.index, resource, folder, changeTypes: changeTypes as Set<ChangeType>, notificationUrl, lifecycleNotificationUrl, clientState, expiresAt };
    this.byId.set(subscription.id, subscription);
    return subscription;
  }

  get(app: string, id: string): GraphSubscription {
    this.sweep();
    const s = this.byId.get(id);
    if (!s || s.app !== app) throw new GraphError(404, 'ResourceNotFound', `The object was not found: subscription ${id}.`);
    return s;
  }

  /** PATCH /subscriptions/{id} with a new expirationDateTime. */
  renew(app: string, id: string, body: Record<string, unknown>): GraphSubscription {
    const s = this.get(app, id);
    const expiresAt = Date.parse(String(body.expirationDateTime ?? ''));
    const now = this.options.now();
    if (!Number.isFinite(expiresAt) || expiresAt <= now) throw new GraphError(400, 'InvalidRequest', 'expirationDateTime must be a time in the future.');
    if (expiresAt > now + MAX_LIFETIME_MINUTES * 60_000) throw new GraphError(400, 'InvalidRequest', `Subscription expiration can only be ${MAX_LIFETIME_MINUTES} minutes in the future.`);
    s.expiresAt = expiresAt;
    s.pausedFrom = undefined; // a renewing PATCH reauthorizes too
    return s;
  }

  /** POST /subscriptions/{id}/reauthorize: its notifications flow again. */
  reauthorize(app: string, id: string): void {
    const s = this.get(app, id);
    s.pausedFrom = undefined;
    this.reauthorized++;
  }

  /**
   * Every subscription with a lifecycle URL is told reauthorizationRequired (its access token
   * expiring, or an admin's change of permission); its notifications go on for `graceMs`
   * ("for a while"), then stop until it is reauthorized or renewed — those are not sent later.
   * `tell` false: the notifications stop, the lifecycle notification is not sent yet (it comes
   * late, as a delivery retried does); a later call tells.
   */
  requireReauthorization(graceMs: number, tell = true): number {
    const all = [...this.byId.values()].filter((s) => s.lifecycleNotificationUrl);
    for (const s of all) {
      s.pausedFrom ??= this.options.now() + graceMs;
      if (tell) this.lifecycle(s, 'reauthorizationRequired');
    }
    return all.length;
  }

  /** Subscriptions whose notifications wait for a reauthorization. */
  get paused(): number {
    const now = this.options.now();
    return [...this.byId.values()].filter((s) => s.pausedFrom !== undefined && s.pausedFrom <= now).length;
  }

  delete(app: string, id: string): void {
    this.get(app, id);
    this.byId.delete(id);
  }

  /** Notifications are lost, not delivered and not reported, for this long (an incident). */
  dropNotifications(forMs: number): void {
    this.dropUntil = Date.now() + forMs;
  }

  /** Every subscription is removed; those with a lifecycle URL are told so (subscriptionRemoved). */
  removeAll(): number {
    const all = [...this.byId.values()];
    this.byId.clear();
    for (const s of all) this.lifecycle(s, 'subscriptionRemoved');
    return all.length;
  }

  /** Every subscription with a lifecycle URL is told some notifications were not delivered. */
  reportMissed(): number {
    const all = [...this.byId.values()].filter((s) => s.lifecycleNotificationUrl);
    for (const s of all) this.lifecycle(s, 'missed');
    return all.length;
  }

  asJson(s: GraphSubscription): Record<string, unknown> {
    return {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity',
      id: s.id, resource: s.resource, applicationId: s.app, changeType: [...s.changeTypes].join(','), clientState: s.clientState ?? null,
      notificationUrl: s.notificationUrl, lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null, expirationDateTime: new Date(s.expiresAt).toISOString(),
      creatorId: s.app, includeResourceData: false, latestSupportedTlsVersion: 'v1_2', encryptionCertificate: null, encryptionCertificateId: null, notificationQueryOptions: null,
      notificationUrlAppId: null,
    };
  }

  private sweep(): void {
    const now = this.options.now();
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
  }

  private onEvent(mailbox: Mailbox, event: MailboxEvent): void {
    if (event.folderEvent || !event.itemId) return;
    for (const folder of ['calendar', 'contacts'] as const) {
      const changes: Array<{ type: ChangeType; itemId: string }> = [];
      if (event.type === 'CreatedEvent' && event.folder === folder) changes.push({ type: 'created', itemId: event.itemId });
      else if (event.type === 'ModifiedEvent' && event.folder === folder) changes.push({ type: 'updated', itemId: event.itemId });
      else if (event.type === 'DeletedEvent' && event.folder === folder) changes.push({ type: 'deleted', itemId: event.itemId });
      else if (event.type === 'MovedEvent') {
        if (event.oldFolder === folder && event.oldItemId) changes.push({ type: 'deleted', itemId: event.oldItemId });
        if (event.folder === folder) changes.push({ type: 'created', itemId: event.itemId });
      }
      if (changes.length) this.notifyChanges(mailbox, folder, changes, event.changeKey);
    }
  }

  private notifyChanges(mailbox: Mailbox, folder: 'calendar' | 'contacts', changes: ReadonlyArray<{ type: ChangeType; itemId: string }>, changeKey: string): void {
    this.sweep();
    for (const s of this.byId.values()) {
      if (s.mailbox !== mailbox.index || s.folder !== folder) continue;
      for (const c of changes) {
        if (!s.changeTypes.has(c.type)) continue;
        if (Date.now() < this.dropUntil) {
          this.dropped++;
          continue;
        }
        if (s.pausedFrom !== undefined && s.pausedFrom <= this.options.now()) {
          this.pausedDrops++;
          continue;
        }
        const key = parseItemId(c.itemId);
        const id = key ? graphIdOf(key.mailbox, key.item) : restIdOf(c.itemId);
        const resource = `Users/${mailbox.address}/${folder === 'calendar' ? 'Events' : 'Contacts'}/${id}`;
        this.enqueue(s.notificationUrl, {
          id: randomUUID(), subscriptionId: s.id, subscriptionExpirationDateTime: new Date(s.expiresAt).toISOString(), changeType: c.type, resource, tenantId: this.options.tenantId,
          ...(s.clientState !== undefined ? { clientState: s.clientState } : {}),
          resourceData: { '@odata.type': folder === 'calendar' ? '#Microsoft.Graph.Event' : '#Microsoft.Graph.Contact', '@odata.id': resource, ...(c.type !== 'deleted' ? { '@odata.etag': `W/"${changeKey}"` } : {}), id },
        });
      }
    }
  }

  private lifecycle(s: GraphSubscription, lifecycleEvent: 'subscriptionRemoved' | 'missed' | 'reauthorizationRequired'): void {
    if (!s.lifecycleNotificationUrl) return;
    this.enqueue(s.lifecycleNotificationUrl, {
      subscriptionId: s.id, subscriptionExpirationDateTime: new Date(s.expiresAt).toISOString(), tenantId: this.options.tenantId, lifecycleEvent,
      ...(s.clientState !== undefined ? { clientState: s.clientState } : {}),
    });
  }

  private enqueue(url: string, notification: unknown): void {
    let queue = this.queues.get(url);
    if (!queue) {
      this.queues.set(url, (queue = []));
      this.later(BATCH_MS, () => {
        const value = this.queues.get(url) ?? [];
        this.queues.delete(url);
        void this.deliver(url, { body: { value }, firstTriedAt: Date.now(), attempts: 0 });
      });
    }
    queue.push(notification);
  }

  /** 2xx within 3 s, or tried again (1 s, 2 s, 4 s … up to a minute apart) for 4 hours. */
  private async deliver(url: string, pending: Pending): Promise<void> {
    if (!this.unlisten) return;
    pending.attempts++;
    const answer = EventHubDelivery.isEventHubUrl(url)
      ? await this.eventHubs.send(url, pending.body).then(() => ({ status: 200, text: '' }), () => ({ status: 0, text: '' }))
      : await post(url, JSON.stringify(pending.body), 'application/json; charset=utf-8', DELIVERY_TIMEOUT_MS).catch(() => ({ status: 0, text: '' }));
    if (answer.status >= 200 && answer.status < 300) {
      this.delivered += pending.body.value.length;
      return;
    }
    this.failedDeliveries++;
    if (Date.now() - pending.firstTriedAt > RETRY_FOR_MS) {
      this.dropped += pending.body.value.length;
      return;
    }
    this.later(Math.min(60_000, 1_000 * 2 ** (pending.attempts - 1)), () => void this.deliver(url, pending));
  }

  private later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}

/** Graph delivers to HTTPS endpoints; the sandbox also to plain HTTP on loopback (tests, the built-in demo). */
function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GraphError(400, 'InvalidRequest', `'${url}' is not a URL.`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) throw new GraphError(400, 'InvalidRequest', `The notification URL must be https (the sandbox also takes http on loopback): ${url}`);
  if (!loopback) throw new GraphError(400, 'InvalidRequest', `The sandbox delivers only to loopback, not ${parsed.hostname}.`);
}

function post(url: string, body: string, contentType: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'POST', headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
