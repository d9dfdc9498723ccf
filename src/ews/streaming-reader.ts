import { responseCodeIn } from './ews-response-codes.js';
import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { Observable } from 'rxjs';
import { childNamed, childrenNamed, descendantNamed, type XmlElement } from '../shared/safe-xml.js';
import type { EwsHttp, EwsTransport } from './ews-http.js';
import { backOffMsOf } from './ews-http.js';
import { ewsError } from './ews-error.js';
import { EnvelopeSplitter } from './envelope-splitter.js';
import type { NotificationEvent, NotificationType, StreamMessage } from './exchange-port.js';
import { escapeXml } from '../shared/xml-escape.js';

const EVENT_TYPES: Record<string, NotificationType> = {
  CreatedEvent: 'Created', ModifiedEvent: 'Modified', DeletedEvent: 'Deleted', MovedEvent: 'Moved', CopiedEvent: 'Copied',
  NewMailEvent: 'NewMail', FreeBusyChangedEvent: 'FreeBusyChanged', StatusEvent: 'Status',
};

export interface StreamingRequest {
  url: string;
  authorization: string;
  version: string;
  anchorMailbox: string;
  /** Impersonated (charged) mailbox; default the anchor. */
  connectingMailbox?: string;
  impersonation: boolean;
  subscriptionIds: readonly string[];
  lifetimeMinutes: number;
  /** The connection's own agent (NTLM: the socket the handshake authenticated). */
  agent?: HttpAgent | HttpsAgent;
}

/** Reads one event element (BaseObjectChangedEventType and kin). */
export function readEvent(e: XmlElement): NotificationEvent | undefined {
  const type = EVENT_TYPES[e.local];
  if (!type) return undefined;
  const time = childNamed(e, 'TimeStamp')?.text.trim();
  return {
    type,
    itemId: childNamed(e, 'ItemId')?.attrs.Id,
    folderId: childNamed(e, 'FolderId')?.attrs.Id,
    parentFolderId: childNamed(e, 'ParentFolderId')?.attrs.Id,
    oldItemId: childNamed(e, 'OldItemId')?.attrs.Id,
    oldParentFolderId: childNamed(e, 'OldParentFolderId')?.attrs.Id,
    watermark: childNamed(e, 'Watermark')?.text.trim(),
    time: time ? Date.parse(time) : undefined,
  };
}

/**
 * One GetStreamingEvents connection as an Observable: it emits each envelope's meaning
 * (notifications, a heartbeat, subscription errors), completes after ConnectionStatus
 * Closed, and errors when the connection breaks or the server refuses. Unsubscribing
 * aborts the request. We read the stream ourselves rather than through ews-javascript-api,
 * whose connection swallows exceptions thrown in handlers, silently drops subscriptions
 * on errors, and finds envelopes only when they are unprefixed.
 */
export function streamingEvents(transport: EwsTransport, http: EwsHttp, req: StreamingRequest): Observable<StreamMessage> {
  return new Observable<StreamMessage>((subscriber) => {
    let closed = false;
    const body =
      `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
      `<soap:Header><t:RequestServerVersion Version="${req.version}"/>` +
      (req.impersonation ? `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${escapeXml(req.connectingMailbox ?? req.anchorMailbox)}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>` : '') +
      `</soap:Header><soap:Body><m:GetStreamingEvents><m:SubscriptionIds>${req.subscriptionIds.map((id) => `<t:SubscriptionId>${escapeXml(id)}</t:SubscriptionId>`).join('')}</m:SubscriptionIds>` +
      `<m:ConnectionTimeout>${req.lifetimeMinutes}</m:ConnectionTimeout></m:GetStreamingEvents></soap:Body></soap:Envelope>`;
    const url = new URL(req.url);
    const https = url.protocol === 'https:';
    const headers: Record<string, string> = {
      'content-type': 'text/xml; charset=utf-8', accept: 'text/xml', authorization: req.authorization, ...http.headers, 'content-length': String(Buffer.byteLength(body)),
    };
    if (http.backendCookie) headers.cookie = `X-BackEndOverrideCookie=${http.backendCookie}`;
    const { metrics, gate } = transport.options;
    metrics?.requests.inc({ operation: 'GetStreamingEvents' });
    const fail = (err: unknown): void => {
      if (closed) return;
      closed = true;
      subscriber.error(err);
    };
    const splitter = new EnvelopeSplitter((envelope) => {
      if (closed) return;
      const message = childNamed(childNamed(childNamed(childNamed(envelope, 'Body') ?? envelope, 'GetStreamingEventsResponse') ?? envelope, 'ResponseMessages') ?? envelope, 'GetStreamingEventsResponseMessage');
      if (!message) {
        const fault = childNamed(childNamed(envelope, 'Body') ?? envelope, 'Fault');
        const code = fault ? descendantNamed(fault, 'ResponseCode')?.text.trim() : undefined;
        fail(ewsError(code || 'ErrorInvalidResponse', fault ? 'the streaming response carried a SOAP fault' : 'unexpected envelope in the streaming response'));
        return;
      }
      const code = childNamed(message, 'ResponseCode')?.text.trim() ?? 'NoError';
      const notifications = childrenNamed(childNamed(message, 'Notifications') ?? message, 'Notification').map((n) => ({
        subscriptionId: childNamed(n, 'SubscriptionId')?.text.trim() ?? '',
        events: n.children.map(readEvent).filter((e): e is NotificationEvent => e !== undefined),
      }));
      const errorIds = childrenNamed(childNamed(message, 'ErrorSubscriptionIds') ?? message, 'SubscriptionId').map((s) => s.text.trim());
      const status = childNamed(message, 'ConnectionStatus')?.text.trim();
      if (code !== 'NoError') {
        metrics?.errors.inc({ operation: 'GetStreamingEvents', code });
        if (errorIds.length && code === 'ErrorMissedNotificationEvents') subscriber.next({ type: 'events-missed', subscriptionIds: errorIds });
        else if (errorIds.length) subscriber.next({ type: 'subscription-errors', error: ewsError(code, `streaming subscription error ${code}: ${childNamed(message, 'MessageText')?.text.trim() || 'the server no longer serves these subscriptions'}`), subscriptionIds: errorIds });
        else {
          if (code === 'ErrorServerBusy') gate.block(1_000);
          fail(ewsError(code, childNamed(message, 'MessageText')?.text.trim() || code));
          return;
        }
      }
      if (notifications.length) subscriber.next({ type: 'notifications', notifications });
      else if (code === 'NoError' && status !== 'Closed') subscriber.next({ type: 'heartbeat' });
      if (status === 'Closed') {
        closed = true;
        subscriber.next({ type: 'closed' });
        subscriber.complete();
      }
    });
    const request = (https ? httpsRequest : httpRequest)(url, { method: 'POST', headers, agent: req.agent ?? (https ? transport.streamingHttpsAgent : transport.streamingHttpAgent) }, (res) => {
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (status !== 200) {
        let text = '';
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const code = responseCodeIn(text) ?? `HTTP_${status}`;
          const backOffMs = backOffMsOf(text);
          if (code === 'ErrorServerBusy') gate.block(backOffMs ?? 1_000);
          metrics?.errors.inc({ operation: 'GetStreamingEvents', code });
          fail(ewsError(code, `GetStreamingEvents failed with HTTP ${status}`, { backOffMs }));
        });
        return;
      }
      subscriber.next({ type: 'open' });
      res.on('data', (d: string) => {
        try {
          splitter.write(d);
        } catch (err) {
          fail(ewsError('ErrorInvalidResponse', `malformed streaming response: ${(err as Error).message}`, { cause: err }));
          request.destroy();
        }
      });
      res.on('end', () => fail(ewsError('SOCKET', 'the streaming connection ended without ConnectionStatus Closed')));
      res.on('aborted', () => fail(ewsError('SOCKET', 'the streaming connection was cut')));
      res.on('error', (err) => fail(ewsError('SOCKET', `the streaming connection broke: ${err.message}`, { cause: err })));
    });
    request.on('error', (err: Error & { code?: string }) => fail(ewsError(err.code === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'SOCKET', err.message, { cause: err })));
    void gate.pass().then(() => {
      if (!closed) request.end(body);
    });
    return () => {
      closed = true;
      request.destroy();
    };
  });
}
