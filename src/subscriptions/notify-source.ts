import type { Subscription } from 'rxjs';
import type { AdviseMode } from '../config/index.js';
import type { ChangeSubscription, ChannelEvent, NotificationChannel } from '../exchange/index.js';
import { ExchangeError } from '../shared/errors.js';
import { PollSource, type PollSourceOptions } from './poll-source.js';

export interface NotifySourceOptions extends PollSourceOptions {
  readonly channel: NotificationChannel;
  /** How often subscriptions close to their end are renewed (ms). */
  readonly renewCheckMs?: number;
}

const savedKey = (mailbox: string): string => `notify:${mailbox}`;

/**
 * GraphNotify: the server pushes "this mailbox changed" (one subscription per mailbox, kept
 * across restarts and renewed before it ends); each notification triggers a read from the
 * folder's position, which stays the truth. A safety poll every `interval` bounds what a lost
 * notification can delay. A subscription the server removed is made again (with the same
 * back-off against a server that keeps losing them as EWS's), then the gap is read; `missed`
 * is a read of the gap; `reauthorizationRequired` is a reauthorization, then a read of the gap
 * (the server held the notifications back meanwhile).
 */
export class NotifySource extends PollSource {
  private readonly subscriptionOf = new Map<string, ChangeSubscription>();
  private readonly mailboxOf = new Map<string, string>();
  private readonly channelEvents: Subscription;
  private readonly renewTimer: NodeJS.Timeout;
  renewals = 0;
  reauthorizations = 0;
  notifications = 0;

  constructor(mode: AdviseMode, private readonly notifyOptions: NotifySourceOptions) {
    super(mode, notifyOptions);
    this.channelEvents = notifyOptions.channel.events.subscribe((e) => this.onChannelEvent(e));
    this.renewTimer = setInterval(() => void this.renewDue(), notifyOptions.renewCheckMs ?? 60_000);
    this.renewTimer.unref();
  }

  protected override async subscribeMailbox(mailbox: string): Promise<void> {
    const { channel } = this.notifyOptions;
    const saved = await this.options.positions.get(savedKey(mailbox));
    let subscription: ChangeSubscription | undefined;
    if (saved) {
      // the one made before a restart: renewed if it still is the server's and still reaches us
      // (an endpoint on a port of its own choosing has another address after a restart)
      const previous = JSON.parse(saved) as ChangeSubscription;
      if (previous.expiresAt > Date.now() && previous.target === (await channel.target())) subscription = await this.limiter.run(() => channel.renew(previous.id));
      else await this.limiter.run(() => channel.unsubscribe(previous.id)).catch(() => undefined);
    }
    subscription ??= await this.limiter.run(() => channel.subscribe(mailbox));
    this.remember(mailbox, subscription);
    await this.options.positions.save(savedKey(mailbox), JSON.stringify(subscription));
    await super.subscribeMailbox(mailbox);
  }

  protected override async unsubscribeMailbox(mailbox: string): Promise<void> {
    await super.unsubscribeMailbox(mailbox);
    const s = this.subscriptionOf.get(mailbox);
    if (!s) return;
    this.forgetSubscription(mailbox);
    await this.options.positions.delete(savedKey(mailbox));
    await this.notifyOptions.channel.unsubscribe(s.id);
  }

  protected override dropSubscription(mailbox: string): void {
    super.dropSubscription(mailbox);
    this.forgetSubscription(mailbox);
  }

  /** Subscribing again after a failure keeps the server's subscription (renewed), unless the server lost it. */
  protected override async reattach(mailbox: string): Promise<void> {
    await this.unsubscribeMailboxTicker(mailbox);
    await this.attach(mailbox);
  }

  /** Stopping keeps the subscriptions: the next start renews them (no new validation, nothing missed in between is lost). */
  protected override async stopMode(): Promise<void> {
    clearInterval(this.renewTimer);
    this.channelEvents.unsubscribe();
    await super.stopMode();
  }

  private remember(mailbox: string, s: ChangeSubscription): void {
    this.forgetSubscription(mailbox);
    this.subscriptionOf.set(mailbox, s);
    for (const id of s.ids ?? [s.id]) this.mailboxOf.set(id, mailbox);
  }

  private forgetSubscription(mailbox: string): void {
    const s = this.subscriptionOf.get(mailbox);
    if (s) for (const id of s.ids ?? [s.id]) this.mailboxOf.delete(id);
    this.subscriptionOf.delete(mailbox);
  }

  private onChannelEvent(e: ChannelEvent): void {
    const mailbox = this.mailboxOf.get(e.subscriptionId);
    if (!mailbox || this.stopping) {
      // an old subscription of ours (replaced, or before a restart): the server stops it when it ends
      this.logger.debug({ event: 'notification.unknown-subscription', kind: e.kind, subscriptionId: e.subscriptionId }, 'a notification for a subscription this instance does not hold');
      return;
    }
    this.notifications++;
    if (e.kind === 'changed') {
      // the folders the channel tells of (the others are polled)
      for (const folder of this.options.folders) if (this.notifyOptions.channel.folders.includes(folder)) this.notify(mailbox, folder);
    } else if (e.kind === 'missed') {
      this.logger.info({ event: 'subscription.missed', mailbox }, `${mailbox}: the server did not deliver some notifications; reading from the position`);
      this.resync(mailbox);
    } else if (e.kind === 'subscriptionRemoved') {
      this.logger.info({ event: 'subscription.removed', mailbox }, `${mailbox}: the server removed its subscription; subscribing again, then reading from the position`);
      this.onFailure(mailbox, new ExchangeError('SUBSCRIPTION_REMOVED', `the server removed the subscription of ${mailbox}`, { category: 'subscription-lost', protocolCode: 'subscriptionRemoved' }), 'a lifecycle notification');
    } else {
      // notifications pause until the subscription is reauthorized: a delta round afterwards
      // reads what they would have told meanwhile
      this.logger.info({ event: 'subscription.reauthorization-required', mailbox }, `${mailbox}: the server asks to reauthorize its subscription; reauthorizing, then reading from the position`);
      void this.limiter.run(() => this.notifyOptions.channel.reauthorize(e.subscriptionId))
        .then(() => {
          this.reauthorizations++;
          this.resync(mailbox);
        })
        .catch((err: unknown) => this.onFailure(mailbox, err, 'reauthorize'));
    }
  }

  /**
   * The safety poll is a backstop, not the way changes come: its first round waits a whole
   * interval (and a random part of another), so notifications carry what happens meanwhile.
   */
  protected override firstPollMs(intervalMs: number, random: () => number): number {
    return intervalMs + Math.floor(random() * intervalMs);
  }

  /** Renews every subscription with less than a third of its life left. */
  private async renewDue(): Promise<void> {
    const { channel } = this.notifyOptions;
    const due = [...this.subscriptionOf.entries()].filter(([, s]) => s.expiresAt - Date.now() < channel.lifetimeMs / 3);
    for (const [mailbox, s] of due) {
      if (this.stopping) return;
      try {
        const renewed = await this.limiter.run(() => channel.renew(s.id));
        this.renewals++;
        if (!renewed) {
          this.onFailure(mailbox, new ExchangeError('SUBSCRIPTION_GONE', `the subscription of ${mailbox} is gone`, { category: 'subscription-lost', protocolCode: 'ResourceNotFound' }), 'renewing the subscription');
          continue;
        }
        if (this.subscriptionOf.get(mailbox)?.id !== s.id) continue;
        this.remember(mailbox, renewed);
        await this.options.positions.save(savedKey(mailbox), JSON.stringify(renewed));
      } catch (err) {
        this.onFailure(mailbox, err, 'renewing the subscription');
      }
    }
  }
}
