import { childNamed } from '../../shared/safe-xml.js';
import { EwsResponseError, type EwsContext } from '../ews-context.js';
import { eventXml, statusEventXml } from '../event-xml.js';
import { parseWatermark } from '../ids.js';
import { operationResponse, responseMessage } from '../soap.js';
import { EVENTS_PER_NOTIFICATION } from '../streaming-connection.js';
import { el } from '../xml-writer.js';

/** GetEvents: the events after the given watermark, at most 50, MoreEvents when there are more. */
export function getEvents(ctx: EwsContext): string {
  const id = childNamed(ctx.body, 'SubscriptionId')?.text.trim() ?? '';
  const watermarkText = childNamed(ctx.body, 'Watermark')?.text.trim() ?? '';
  let message: string;
  try {
    const sub = ctx.subscriptions.get(id);
    if (sub === 'expired') throw new EwsResponseError('ErrorExpiredSubscription', 'The subscription has expired.');
    if (sub === undefined) throw new EwsResponseError('ErrorSubscriptionNotFound', 'The specified subscription was not found.');
    if (sub.kind !== 'pull') throw new EwsResponseError('ErrorInvalidPullSubscriptionId', 'The subscription is not a pull subscription.');
    if (sub.account !== ctx.account) throw new EwsResponseError('ErrorSubscriptionAccessDenied', 'A subscription can only be used by the account that created it.');
    if (sub.backend !== ctx.backend) throw new EwsResponseError('ErrorSubscriptionNotFound', 'The specified subscription was not found (the request reached another mailbox server).');
    const mailbox = sub.mailbox;
    const w = parseWatermark(watermarkText);
    if (!w || w.epoch !== ctx.epoch || w.mailbox !== mailbox.index || w.seq < mailbox.oldestKeptSeq - 1 || w.seq > mailbox.lastEventSeq) {
      throw new EwsResponseError('ErrorInvalidWatermark', 'The watermark used for this request was not recognized.');
    }
    sub.lastPolledAt = ctx.now();
    const matching = mailbox.eventsAfter(w.seq).filter((e) => ctx.subscriptions.matches(sub, e));
    const batch = matching.slice(0, EVENTS_PER_NOTIFICATION);
    const more = matching.length > batch.length;
    const events = batch.length ? batch.map((e) => eventXml(mailbox, e, ctx.epoch)).join('') : statusEventXml(mailbox, mailbox.lastEventSeq, ctx.epoch);
    message = responseMessage(
      'GetEvents',
      `<m:Notification>${el('t:SubscriptionId', sub.id)}${el('t:PreviousWatermark', watermarkText)}${el('t:MoreEvents', String(more))}${events}</m:Notification>`,
    );
  } catch (err) {
    if (!(err instanceof EwsResponseError)) throw err;
    message = responseMessage('GetEvents', '', { code: err.code, text: err.message });
  }
  return operationResponse('GetEvents', message);
}
