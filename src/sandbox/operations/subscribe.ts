import { childNamed } from '../../shared/safe-xml.js';
import { EwsResponseError, resolveFolder, type EwsContext } from '../ews-context.js';
import { parseWatermark, watermarkOf } from '../ids.js';
import { operationResponse, responseMessage } from '../soap.js';
import { el } from '../xml-writer.js';

const EVENT_TYPES = new Set(['CopiedEvent', 'CreatedEvent', 'DeletedEvent', 'ModifiedEvent', 'MovedEvent', 'NewMailEvent', 'FreeBusyChangedEvent']);

/** Subscribe: PullSubscriptionRequest (Watermark, Timeout) or StreamingSubscriptionRequest. */
export function subscribe(ctx: EwsContext): string {
  const request = ctx.body.children[0];
  let message: string;
  try {
    if (!request || (request.local !== 'PullSubscriptionRequest' && request.local !== 'StreamingSubscriptionRequest')) {
      throw new EwsResponseError('ErrorInvalidRequest', `The sandbox supports pull and streaming subscriptions, not ${request?.local ?? 'none'}.`);
    }
    if (ctx.subscriptions.forBudget(ctx.budget) >= ctx.limits.maxSubscriptionsPerMailbox) {
      throw new EwsResponseError('ErrorExceededSubscriptionCount', `${ctx.budget} already has ${ctx.limits.maxSubscriptionsPerMailbox} subscriptions (EWSMaxSubscriptions).`);
    }
    const all = request.attrs.SubscribeToAllFolders === 'true';
    const folderIds = childNamed(request, 'FolderIds')?.children ?? [];
    if (!all && folderIds.length === 0) throw new EwsResponseError('ErrorInvalidSubscriptionRequest', 'FolderIds are required unless SubscribeToAllFolders is true.');
    const folders = all ? ('all' as const) : new Set(folderIds.map((f) => resolveFolder(ctx, f)));
    const eventTypes = new Set((childNamed(request, 'EventTypes')?.children ?? []).map((e) => e.text.trim()));
    for (const t of eventTypes) if (!EVENT_TYPES.has(t)) throw new EwsResponseError('ErrorInvalidRequest', `Unknown event type ${t}.`);
    if (eventTypes.size === 0) throw new EwsResponseError('ErrorInvalidRequest', 'EventTypes must name at least one event type.');
    if (request.local === 'PullSubscriptionRequest') {
      const timeout = Number(childNamed(request, 'Timeout')?.text.trim());
      if (!Number.isInteger(timeout) || timeout < 1 || timeout > 1440) throw new EwsResponseError('ErrorInvalidRequest', 'Timeout must be 1 to 1440 minutes.');
      let cursor = ctx.mailbox.lastEventSeq;
      const watermarkText = childNamed(request, 'Watermark')?.text.trim();
      if (watermarkText) {
        const w = parseWatermark(watermarkText);
        if (!w || w.epoch !== ctx.epoch || w.mailbox !== ctx.mailbox.index || w.seq < ctx.mailbox.oldestKeptSeq - 1 || w.seq > ctx.mailbox.lastEventSeq) {
          throw new EwsResponseError('ErrorInvalidWatermark', 'The watermark used for creating this subscription was not recognized.');
        }
        cursor = w.seq;
      }
      const sub = ctx.subscriptions.createPull({ mailbox: ctx.mailbox, account: ctx.account, budget: ctx.budget, folders, eventTypes, backend: ctx.backend, timeoutMs: timeout * ctx.minuteMs });
      message = responseMessage('Subscribe', el('m:SubscriptionId', sub.id) + el('m:Watermark', watermarkOf(ctx.mailbox.index, cursor, ctx.epoch)));
    } else {
      const sub = ctx.subscriptions.createStreaming({ mailbox: ctx.mailbox, account: ctx.account, budget: ctx.budget, folders, eventTypes, backend: ctx.backend });
      message = responseMessage('Subscribe', el('m:SubscriptionId', sub.id));
    }
  } catch (err) {
    if (!(err instanceof EwsResponseError)) throw err;
    message = responseMessage('Subscribe', '', { code: err.code, text: err.message });
  }
  return operationResponse('Subscribe', message);
}

export function unsubscribe(ctx: EwsContext): string {
  const id = childNamed(ctx.body, 'SubscriptionId')?.text.trim() ?? '';
  const found = ctx.subscriptions.get(id);
  // Subscriptions belong to the account that created them, whichever mailbox it impersonates now.
  if (found === undefined || found === 'expired' || found.account !== ctx.account) {
    return operationResponse('Unsubscribe', responseMessage('Unsubscribe', '', { code: 'ErrorSubscriptionNotFound', text: 'The specified subscription was not found.' }));
  }
  ctx.subscriptions.remove(id);
  return operationResponse('Unsubscribe', responseMessage('Unsubscribe', ''));
}
