import { timingSafeEqual } from 'node:crypto';
import type { Subject } from 'rxjs';

/** What arrived: a change on a subscription, or a lifecycle event of one. */
export type ReceivedNotification =
  | { readonly kind: 'changed'; readonly subscriptionId: string }
  | { readonly kind: 'subscriptionRemoved' | 'missed' | 'reauthorizationRequired'; readonly subscriptionId: string };

/**
 * Where Graph delivers change and lifecycle notifications: our webhook, or an Event Hub we
 * read. Either gives Graph the URLs for a subscription and hands on what arrived.
 */
export interface NotificationInbox {
  readonly notifications: Subject<ReceivedNotification>;
  /** Notifications taken, and refused (not carrying our clientState). */
  readonly received: number;
  readonly rejected: number;
  /** Ready to receive (listening, or reading the hub); the URLs to give Graph. */
  urls(): Promise<{ notificationUrl: string; lifecycleNotificationUrl: string }>;
  close(): Promise<void>;
}

const LIFECYCLE = new Set(['subscriptionRemoved', 'missed', 'reauthorizationRequired']);

/**
 * The notifications of one delivery (`{"value": [...]}`) that carry our clientState, in order;
 * the rest counted as refused. `from`: the webhook's two paths tell change from lifecycle
 * notifications; an Event Hub carries both, told apart by `lifecycleEvent`. Graph's validation
 * message to an Event Hub ("Validation: …", subscription "NA") is not a notification.
 */
export function notificationsOf(value: readonly unknown[], clientState: string, from: 'changes' | 'lifecycle' | 'either'): { accepted: ReceivedNotification[]; refused: number } {
  const expected = Buffer.from(clientState);
  const accepted: ReceivedNotification[] = [];
  let refused = 0;
  for (const entry of value) {
    const n = entry as { subscriptionId?: unknown; clientState?: unknown; lifecycleEvent?: unknown; changeType?: unknown };
    if (from === 'either' && n.subscriptionId === 'NA' && typeof n.changeType === 'string' && n.changeType.startsWith('Validation:')) continue;
    const state = Buffer.from(typeof n.clientState === 'string' ? n.clientState : '');
    if (typeof n.subscriptionId !== 'string' || state.length !== expected.length || !timingSafeEqual(state, expected)) {
      refused++;
      continue;
    }
    const lifecycle = typeof n.lifecycleEvent === 'string' && LIFECYCLE.has(n.lifecycleEvent) ? (n.lifecycleEvent as 'subscriptionRemoved' | 'missed' | 'reauthorizationRequired') : undefined;
    if (lifecycle && from !== 'changes') accepted.push({ kind: lifecycle, subscriptionId: n.subscriptionId });
    else if (!lifecycle && from !== 'lifecycle') accepted.push({ kind: 'changed', subscriptionId: n.subscriptionId });
  }
  return { accepted, refused };
}
