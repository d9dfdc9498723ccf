import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sandbox } from '../sandbox/index.js';
import { escapeXml } from '../shared/xml-escape.js';
import { json, queryOf, type Route } from './http-reply.js';

/** A CRM user's hands in the demo: appointments of the user whose e-mail is `mailbox`. */
export interface DemoCrmUser {
  /** Undefined: no CRM user has that e-mail address. */
  create(mailbox: string, title: string, start: string, end: string): Promise<{ appointmentId: number } | undefined>;
  list(mailbox: string): Promise<Array<{ appointmentId: number; type: 'appointment' | 'task'; title: string; start: string }>>;
}


/** The request's JSON object, or a reply saying what is wrong with it (then undefined). */
async function bodyOf(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 10_000) {
      json(res, 413, { error: 'the body is over 10,000 characters' });
      return undefined;
    }
  }
  try {
    const parsed: unknown = JSON.parse(text || '{}');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  json(res, 400, { error: 'the body must be a JSON object, e.g. {"mailbox":"user0002@contoso.test","subject":"…"}' });
  return undefined;
}

const text = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

/**
 * Only with the built-in sandbox and a CRM of the demo's own (the embedded reference CRM or
 * the built-in SuperOffice simulator): a user's hands on both sides, so the demo can be tried
 * without Outlook or access to the CRM. A CRM appointment is written as a user's change; a
 * mailbox item is created through the sandbox's EWS endpoint, impersonating the mailbox, as
 * Outlook would.
 */
export function demoRoutes(crmUser: DemoCrmUser, sandbox: Sandbox): Record<string, Route> {
  const when = (body: Record<string, unknown>): { start: string; end: string } => {
    const start = Date.parse(text(body.start)) || Math.ceil(Date.now() / 3_600_000 + 24) * 3_600_000;
    return { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString() };
  };
  return {
    '/demo/crm-appointments': async (req, res) => {
      if (req.method === 'POST') {
        const body = await bodyOf(req, res);
        if (!body) return;
        const { start, end } = when(body);
        // "subject" as on the Exchange side; "title" (the CRM's word) is taken too
        const made = await crmUser.create(text(body.mailbox), text(body.subject, text(body.title, 'Demo appointment')), start, end);
        if (!made) return json(res, 404, { error: `no associate with the e-mail ${text(body.mailbox)}` });
        return json(res, 201, { appointmentId: made.appointmentId, start, end });
      }
      return json(res, 200, await crmUser.list(queryOf(req).get('mailbox') ?? ''));
    },
    '/demo/exchange-appointments': async (req, res) => {
      if (req.method === 'POST') {
        const body = await bodyOf(req, res);
        if (!body) return;
        const mailbox = text(body.mailbox);
        if (!sandbox.store.byEmail(mailbox)) return json(res, 404, { error: `no sandbox mailbox ${mailbox}` });
        const { start, end } = when(body);
        const soap = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
          `<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${escapeXml(mailbox)}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>` +
          `<soap:Body><m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>` +
          `<t:Subject>${escapeXml(text(body.subject, text(body.title, 'Demo appointment')))}</t:Subject><t:Start>${start}</t:Start><t:End>${end}</t:End></t:CalendarItem></m:Items></m:CreateItem></soap:Body></soap:Envelope>`;
        const reply = await fetch(sandbox.url, {
          method: 'POST', body: soap,
          headers: { 'content-type': 'text/xml; charset=utf-8', authorization: `Basic ${Buffer.from(`${sandbox.serviceAccount}:sandbox`).toString('base64')}` },
        });
        const answer = await reply.text();
        const itemId = /<t:ItemId Id="([^"]+)"/.exec(answer)?.[1];
        const made = itemId === undefined ? undefined : sandbox.store.itemById(itemId);
        if (made) sandbox.activity.spare(made);
        return itemId ? json(res, 201, { itemId, start, end }) : json(res, 502, { error: 'the sandbox refused the item', answer: answer.slice(0, 500) });
      }
      const mailbox = sandbox.store.byEmail(queryOf(req).get('mailbox') ?? '');
      if (!mailbox) return json(res, 404, { error: 'give ?mailbox=<a sandbox mailbox>' });
      return json(res, 200, (['calendar', 'tasks'] as const).flatMap((folder) => sandbox.store.itemsIn(mailbox, folder).map((i) => ({ folder, subject: i.props.Subject, start: i.props.Start ?? i.props.DueDate }))));
    },
    // the mailbox's contact folders (Contacts, and one per subscribed CRM selection) with their contacts' names
    '/demo/exchange-contacts': (req, res) => {
      const mailbox = sandbox.store.byEmail(queryOf(req).get('mailbox') ?? '');
      if (!mailbox) return json(res, 404, { error: 'give ?mailbox=<a sandbox mailbox>' });
      const folders = [...mailbox.folders.values()].filter((f) => f.folderClass.startsWith('IPF.Contact'));
      const name = (v: unknown): string => (typeof v === 'string' ? v : '');
      return json(res, 200, folders.map((f) => ({
        folder: f.displayName,
        contacts: sandbox.store.itemsIn(mailbox, f.key).map((i) => [name(i.props.GivenName), name(i.props.Surname)].filter(Boolean).join(' ') || name(i.props.DisplayName)).sort(),
      })));
    },
  };
}
