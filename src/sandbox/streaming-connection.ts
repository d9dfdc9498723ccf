import type { ServerResponse } from 'node:http';
import { eventXml } from './event-xml.js';
import { operationResponse, responseMessage, streamingEnvelope } from './soap.js';
import type { StreamingAttachment, StreamingSubscription } from './subscriptions.js';
import { el, wrap } from './xml-writer.js';

/** At most this many events in one Notification, as Exchange does. */
export const EVENTS_PER_NOTIFICATION = 50;

export interface StreamingConnectionOptions {
  res: ServerResponse;
  subscriptions: StreamingSubscription[];
  /** Subscription ids of the request that are not usable, reported in ErrorSubscriptionIds. */
  errorIds: string[];
  errorCode: string;
  lifetimeMs: number;
  heartbeatMs: number;
  /** A hung connection: it stays open and says nothing (no heartbeats; its events are lost in it). */
  silent?: boolean;
  epoch: number;
  now: () => number;
  /** The account holding the connection. */
  account: string;
  /** The throttling budget it is charged to (HangingConnectionLimit). */
  budget: string;
  onClose: (connection: StreamingConnection) => void;
  onEnvelope?: (xml: string) => void;
}

/**
 * One open GetStreamingEvents response: a chunked HTTP body carrying one SOAP envelope per
 * notification batch, a keep-alive envelope while idle, and a last envelope with
 * ConnectionStatus Closed when its ConnectionTimeout runs out.
 */
export class StreamingConnection implements StreamingAttachment {
  readonly subscriptions = new Set<StreamingSubscription>();
  private readonly options: StreamingConnectionOptions;
  private flushScheduled = false;
  private closed = false;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private heartbeatTimer: NodeJS.Timeout;
  readonly account: string;
  readonly budget: string;

  constructor(options: StreamingConnectionOptions) {
    this.options = options;
    this.account = options.account;
    this.budget = options.budget;
    const { res } = options;
    res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'private', 'x-content-type-options': 'nosniff' });
    this.lifetimeTimer = setTimeout(() => this.close(), options.lifetimeMs);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatMs);
    res.on('close', () => this.finish());
    for (const sub of options.subscriptions) this.attach(sub);
    if (options.errorIds.length) {
      const error = { code: options.errorCode, text: 'The specified subscription was not found.' };
      const ids = wrap('m:ErrorSubscriptionIds', options.errorIds.map((id) => el('t:SubscriptionId', id)).join(''));
      const status = el('m:ConnectionStatus', this.subscriptions.size ? 'OK' : 'Closed');
      this.write(responseMessage('GetStreamingEvents', ids + status, error));
    }
    if (!this.subscriptions.size) this.end();
    else this.scheduleFlush();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  attach(sub: StreamingSubscription): void {
    // A subscription is served by one connection at a time: the newest takes it over.
    if (sub.connection && sub.connection !== this) sub.connection.detach(sub);
    sub.connection = this;
    this.subscriptions.add(sub);
  }

  notify(): void {
    this.scheduleFlush();
  }

  detach(sub: StreamingSubscription): void {
    if (!this.subscriptions.delete(sub)) return;
    if (sub.connection === this) {
      sub.connection = undefined;
      sub.lastConnectionEndedAt = this.options.now();
    }
  }

  /** Graceful end: the last envelope says ConnectionStatus Closed. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.write(responseMessage('GetStreamingEvents', el('m:ConnectionStatus', 'Closed')));
    this.end();
  }

  /** Abrupt end, like a load balancer cutting the connection: half an envelope, then a reset. */
  drop(): void {
    if (this.closed) return;
    const partial = streamingEnvelope(operationResponse('GetStreamingEvents', responseMessage('GetStreamingEvents', el('m:ConnectionStatus', 'OK'))));
    const socket = this.options.res.socket;
    this.finish();
    // Let the half envelope reach the client, then reset the connection.
    this.options.res.write(partial.slice(0, Math.floor(partial.length / 2)), () => socket?.destroy());
    setTimeout(() => socket?.destroy(), 50).unref();
  }

  private heartbeat(): void {
    if (this.closed) return;
    this.write(responseMessage('GetStreamingEvents', el('m:ConnectionStatus', 'OK')));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return;
    for (;;) {
      let notifications = '';
      const missed: string[] = [];
      for (const sub of this.subscriptions) {
        if (sub.missed) {
          sub.missed = false;
          missed.push(sub.id);
        }
        if (!sub.pending.length) continue;
        const batch = sub.pending.splice(0, EVENTS_PER_NOTIFICATION);
        notifications += `<m:Notification>${el('t:SubscriptionId', sub.id)}${batch.map((e) => eventXml(sub.mailbox, e, this.options.epoch, false)).join('')}</m:Notification>`;
      }
      if (missed.length) {
        const ids = wrap('m:ErrorSubscriptionIds', missed.map((id) => el('t:SubscriptionId', id)).join(''));
        this.write(responseMessage('GetStreamingEvents', ids + el('m:ConnectionStatus', 'OK'), {
          code: 'ErrorMissedNotificationEvents', text: 'Events were lost; resynchronize the folder.',
        }));
      }
      if (!notifications) return;
      this.write(responseMessage('GetStreamingEvents', `<m:Notifications>${notifications}</m:Notifications>`));
      // Reset the heartbeat: it is only sent while idle.
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    }
  }

  private write(messageXml: string): void {
    if (this.closed || this.options.silent) return;
    const xml = streamingEnvelope(operationResponse('GetStreamingEvents', messageXml));
    this.options.onEnvelope?.(xml);
    this.options.res.write(xml);
  }

  private end(): void {
    if (this.closed) return;
    this.options.res.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.lifetimeTimer);
    clearInterval(this.heartbeatTimer);
    for (const sub of [...this.subscriptions]) this.detach(sub);
    this.options.onClose(this);
  }
}
