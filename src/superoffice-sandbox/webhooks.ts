import { createHmac, randomUUID } from 'node:crypto';
import type { SoChange, SoWebhook, SuperOfficeStore } from './store.js';

/** Delays between the three tries of one event (docs-pages/notification.mdx): at once, 1 s, 4 s. */
export const RETRY_DELAYS_MS = [0, 1_000, 4_000] as const;
/** Failed attempts in a row after which a webhook is set to TooManyErrors. */
export const MAX_CONSECUTIVE_ERRORS = 9;

/**
 * Sends each change to every active webhook whose Events name it, as SuperOffice does:
 * fire-and-forget POSTs of the WebhookPayload with X-SuperOffice-Event, -EventId, -Retry and,
 * when the webhook has a secret, X-SuperOffice-Signature = base64(HMAC-SHA256(secret, body));
 * three tries, then the event is discarded; nine failed attempts in a row stop the webhook.
 * For fault tests a share of events can be dropped (never sent).
 */
export class WebhookDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  dropProbability = 0;
  delivered = 0;
  dropped = 0;
  discarded = 0;

  constructor(private readonly store: SuperOfficeStore, private readonly random: () => number, private readonly contextIdentifier = 'Cust12345') {
    store.onChange((c) => this.dispatch(c));
  }

  private dispatch(c: SoChange): void {
    const event = `${c.entity}.${c.event}`;
    for (const hook of this.store.webhooks.values()) {
      if (hook.state !== 'Active' || hook.type !== 'webhook' || !hook.events.includes(event)) continue;
      if (this.random() < this.dropProbability) {
        this.dropped++;
        continue;
      }
      const payload: Record<string, unknown> = {
        EventId: randomUUID(), Timestamp: new Date(c.at).toISOString(), Changes: c.changes, Event: event, PrimaryKey: c.primaryKey, Entity: c.entity,
        ContextIdentifier: this.contextIdentifier, ChangedByAssociateId: c.changedBy, WebhookName: hook.name,
        ...(c.event === 'deleted' ? { Values: c.fieldValues } : { FieldValues: c.fieldValues }),
      };
      this.attempt(hook, JSON.stringify(payload), event, String(payload.EventId), 0);
    }
  }

  private attempt(hook: SoWebhook, body: string, event: string, eventId: string, retry: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.post(hook, body, event, eventId, retry).then((ok) => {
        if (hook.state !== 'Active') return;
        if (ok) {
          hook.consecutiveErrors = 0;
          this.delivered++;
          return;
        }
        hook.totalErrors++;
        hook.consecutiveErrors++;
        if (hook.consecutiveErrors >= MAX_CONSECUTIVE_ERRORS) hook.state = 'TooManyErrors';
        else if (retry + 1 < RETRY_DELAYS_MS.length) this.attempt(hook, body, event, eventId, retry + 1);
        else this.discarded++;
      });
    }, RETRY_DELAYS_MS[retry]);
    this.timers.add(timer);
  }

  private async post(hook: SoWebhook, body: string, event: string, eventId: string, retry: number): Promise<boolean> {
    hook.totalCalls++;
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8', 'user-agent': 'NetServer-Webhook/10.4 (exchange-crm-sync simulator)',
      'x-superoffice-event': event, 'x-superoffice-eventid': eventId, 'x-superoffice-retry': String(retry),
    };
    if (hook.secret) headers['x-superoffice-signature'] = createHmac('sha256', hook.secret).update(body).digest('base64');
    const abort = new AbortController();
    this.inFlight.add(abort);
    const timeout = setTimeout(() => abort.abort(), 10_000);
    try {
      const res = await fetch(hook.targetUrl, { method: 'POST', headers, body, signal: abort.signal });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return true;
      hook.lastError = `HTTP ${res.status}`;
      return false;
    } catch (err) {
      hook.lastError = String((err as Error).message ?? err);
      return false;
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(abort);
    }
  }

  /** A server restart: retries waiting and deliveries under way are lost. */
  restart(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const a of this.inFlight) a.abort();
  }

  close(): void {
    this.restart();
  }
}
