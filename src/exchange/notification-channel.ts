import type { FolderKind } from './mailbox-store.js';
import type { Observable } from 'rxjs';

/** A mailbox's change subscription: its id and until when the server keeps it (ms). */
export interface ChangeSubscription {
  /** What renew, reauthorize and unsubscribe are given. */
  readonly id: string;
  /** The server's subscriptions it stands for (one per folder, where the server's are per folder); notifications name one of them. Default: [id]. */
  readonly ids?: readonly string[];
  readonly expiresAt: number;
  /** Where its notifications go (our endpoint's address when it was made). */
  readonly target: string;
}

/** What the server told about a subscription: a change in its folder, or something about the subscription itself. */
export type ChannelEvent =
  | { readonly kind: 'changed'; readonly subscriptionId: string }
  /** The server dropped it: subscribe again, then read from the position. */
  | { readonly kind: 'subscriptionRemoved'; readonly subscriptionId: string }
  /** Some notifications were not delivered: read from the position. */
  | { readonly kind: 'missed'; readonly subscriptionId: string }
  /** The server wants the subscription's authorisation renewed. */
  | { readonly kind: 'reauthorizationRequired'; readonly subscriptionId: string };

/**
 * Change notifications pushed by the server (Graph: a subscription per mailbox's calendar,
 * delivered to our webhook). A notification is only a trigger; the change reader is the truth.
 */
export interface NotificationChannel {
  readonly events: Observable<ChannelEvent>;
  /** The folders whose changes it tells (Graph: calendar, contacts — To Do has no app-only notifications); the others are polled. */
  readonly folders: readonly FolderKind[];
  /** How long a subscription lives when made or renewed (ms). */
  readonly lifetimeMs: number;
  /** Where notifications reach this instance now: a subscription made for another address is not renewed but replaced. */
  target(): Promise<string>;
  subscribe(mailbox: string): Promise<ChangeSubscription>;
  /** Extends its life; undefined when the server no longer knows it. */
  renew(subscriptionId: string): Promise<ChangeSubscription | undefined>;
  reauthorize(subscriptionId: string): Promise<void>;
  /** Ends it; one already gone is no error. */
  unsubscribe(subscriptionId: string): Promise<void>;
}
