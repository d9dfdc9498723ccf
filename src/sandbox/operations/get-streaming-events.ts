import { childNamed } from '../../shared/safe-xml.js';
import { EwsFault, type EwsContext } from '../ews-context.js';
import { operationResponse, responseMessage } from '../soap.js';
import { StreamingConnection } from '../streaming-connection.js';
import type { StreamingSubscription } from '../subscriptions.js';
import { el } from '../xml-writer.js';

/**
 * GetStreamingEvents: holds the response open as a chunked stream for ConnectionTimeout
 * minutes. Returns undefined when it took over the response, or a normal response body.
 */
export function getStreamingEvents(ctx: EwsContext): string | undefined {
  const ids = (childNamed(ctx.body, 'SubscriptionIds')?.children ?? []).map((c) => c.text.trim());
  const timeoutText = childNamed(ctx.body, 'ConnectionTimeout')?.text.trim() ?? '';
  const minutes = Number(timeoutText);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 30) {
    throw new EwsFault('ErrorSchemaValidation', `The request failed schema validation: ConnectionTimeout "${timeoutText}" must be 1 to 30.`);
  }
  const error = (code: string, text: string): string =>
    operationResponse('GetStreamingEvents', responseMessage('GetStreamingEvents', el('m:ConnectionStatus', 'Closed'), { code, text }));
  if (ids.length === 0 || ids.length > ctx.limits.maxSubscriptionsPerConnection) {
    return error('ErrorInvalidRequest', `A streaming connection carries 1 to ${ctx.limits.maxSubscriptionsPerConnection} subscriptions; got ${ids.length}.`);
  }
  let open = 0;
  for (const c of ctx.openConnections) if (c.budget === ctx.budget) open++;
  if (open >= ctx.limits.hangingConnectionLimit) {
    return error('ErrorExceededConnectionCount', `${ctx.budget} already holds ${open} streaming connections (HangingConnectionLimit ${ctx.limits.hangingConnectionLimit}).`);
  }
  const good: StreamingSubscription[] = [];
  const bad: string[] = [];
  for (const id of ids) {
    const sub = ctx.subscriptions.get(id);
    if (sub && sub !== 'expired' && sub.kind === 'streaming' && sub.account === ctx.account && sub.backend === ctx.backend) good.push(sub);
    else bad.push(id);
  }
  const connection = new StreamingConnection({
    res: ctx.res,
    subscriptions: good,
    errorIds: bad,
    errorCode: 'ErrorSubscriptionNotFound',
    lifetimeMs: minutes * ctx.minuteMs,
    heartbeatMs: ctx.limits.heartbeatMs,
    silent: ctx.silentStream?.() ?? false,
    epoch: ctx.epoch,
    now: ctx.now,
    account: ctx.account,
    budget: ctx.budget,
    onClose: (c) => ctx.openConnections.delete(c),
    onEnvelope: (xml) => {
      ctx.stats.notificationEnvelopes++;
      ctx.inspect?.('response', 'GetStreamingEvents', xml);
    },
  });
  if (connection.isOpen) {
    ctx.openConnections.add(connection);
    ctx.stats.streamingConnectionsOpened++;
  }
  return undefined;
}

