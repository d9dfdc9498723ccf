import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sandbox } from '../sandbox/index.js';
import { escapeXml } from '../shared/xml-escape.js';
import { assertIdentifier, type Database } from '../state/database.js';
import { json, queryOf, type Route } from './http-reply.js';


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
  json(res, 400, { error: 'the body must be a JSON object, e.g. {"mailbox":"user0002@contoso.test","title":"…"}' });
  return undefined;
}

const text = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

/**
 * Only with the built-in sandbox and the embedded CRM (`npm start`): a user's hands on both
 * sides, so the demo can be tried without Outlook or SQL access to the embedded database.
 * A CRM row is inserted as a user's write (origin "user"); a mailbox item is created through
 * the sandbox's EWS endpoint, impersonating the mailbox, as Outlook would.
 */
export function demoRoutes(db: Database, crmSchema: string, sandbox: Sandbox): Record<string, Route> {
  const s = assertIdentifier(crmSchema);
  const when = (body: Record<string, unknown>): { start: string; end: string } => {
    const start = Date.parse(text(body.start)) || Math.ceil(Date.now() / 3_600_000 + 24) * 3_600_000;
    return { start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString() };
  };
  return {
    '/demo/crm-appointments': async (req, res) => {
      if (req.method === 'POST') {
        const body = await bodyOf(req, res);
        if (!body) return;
        const { rows: who } = await db.query<{ associate_id: number }>(`select associate_id from ${s}.associate where lower(email) = lower($1)`, [text(body.mailbox)]);
        if (!who[0]) return json(res, 404, { error: `no associate with the e-mail ${text(body.mailbox)}` });
        const { start, end } = when(body);
        const { rows } = await db.query<{ appointment_id: number }>(
          `insert into ${s}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, $2, $3, $4, 'UTC') returning appointment_id`,
          [who[0].associate_id, text(body.title, 'Demo appointment'), start, end],
        );
        return json(res, 201, { appointmentId: rows[0].appointment_id, start, end });
      }
      const mailbox = queryOf(req).get('mailbox') ?? '';
      const { rows } = await db.query<{ appointment_id: number; type: number; title: string; start_at: Date }>(
        `select a.appointment_id, a.type, a.title, a.start_at from ${s}.appointment a join ${s}.associate p on p.associate_id = a.associate_id where lower(p.email) = lower($1) order by a.appointment_id`, [mailbox],
      );
      return json(res, 200, rows.map((r) => ({ appointmentId: r.appointment_id, type: r.type === 2 ? 'task' : 'appointment', title: r.title, start: r.start_at })));
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
          `<t:Subject>${escapeXml(text(body.subject, 'Demo appointment'))}</t:Subject><t:Start>${start}</t:Start><t:End>${end}</t:End></t:CalendarItem></m:Items></m:CreateItem></soap:Body></soap:Envelope>`;
        const reply = await fetch(sandbox.url, {
          method: 'POST', body: soap,
          headers: { 'content-type': 'text/xml; charset=utf-8', authorization: `Basic ${Buffer.from(`${sandbox.serviceAccount}:sandbox`).toString('base64')}` },
        });
        const answer = await reply.text();
        const itemId = /<t:ItemId Id="([^"]+)"/.exec(answer)?.[1];
        return itemId ? json(res, 201, { itemId, start, end }) : json(res, 502, { error: 'the sandbox refused the item', answer: answer.slice(0, 500) });
      }
      const mailbox = sandbox.store.byEmail(queryOf(req).get('mailbox') ?? '');
      if (!mailbox) return json(res, 404, { error: 'give ?mailbox=<a sandbox mailbox>' });
      return json(res, 200, (['calendar', 'tasks'] as const).flatMap((folder) => sandbox.store.itemsIn(mailbox, folder).map((i) => ({ folder, subject: i.props.Subject, start: i.props.Start ?? i.props.DueDate }))));
    },
  };
}
