import ews from 'ews-javascript-api';

const NS_M = 'http://schemas.microsoft.com/exchange/services/2006/messages';
const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const NS_SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';

/** An ews-javascript-api service acting as `mailbox` through impersonation. */
export function ewsService(url: string, mailbox?: string, password = 'sandbox'): ews.ExchangeService {
  const service = new ews.ExchangeService(ews.ExchangeVersion.Exchange2016);
  service.Credentials = new ews.WebCredentials('svc-sync@contoso.test', password);
  service.Url = new ews.Uri(url);
  if (mailbox) service.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, mailbox);
  return service;
}

export interface RawOptions {
  mailbox?: string;
  version?: string | null;
  auth?: string | null;
  headers?: Record<string, string>;
  /** Extra SOAP header XML (e.g. TimeZoneContext). */
  soapHeader?: string;
}

/** Posts one SOAP request the way a plain client would; returns status and body text. */
export async function soap(url: string, bodyXml: string, options: RawOptions = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const version = options.version === undefined ? 'Exchange2016' : options.version;
  const header =
    (version ? `<t:RequestServerVersion Version="${version}"/>` : '') +
    (options.soapHeader ?? '') +
    (options.mailbox ? `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${options.mailbox}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>` : '');
  const xml = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${NS_SOAP}" xmlns:m="${NS_M}" xmlns:t="${NS_T}"><soap:Header>${header}</soap:Header><soap:Body>${bodyXml}</soap:Body></soap:Envelope>`;
  return post(url, xml, options);
}

export async function post(url: string, xml: string, options: RawOptions = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const auth = options.auth === undefined ? `Basic ${Buffer.from('svc-sync@contoso.test:sandbox').toString('base64')}` : options.auth;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', ...(auth ? { authorization: auth } : {}), ...(options.headers ?? {}) },
    body: xml,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Text of the first element with this local name (any prefix). */
export function textOf(xml: string, local: string): string | undefined {
  return new RegExp(`<(?:\\w+:)?${local}(?:\\s[^>]*)?>([^<]*)</(?:\\w+:)?${local}>`).exec(xml)?.[1];
}

export function allTexts(xml: string, local: string): string[] {
  return [...xml.matchAll(new RegExp(`<(?:\\w+:)?${local}(?:\\s[^>]*)?>([^<]*)</(?:\\w+:)?${local}>`, 'g'))].map((m) => m[1]);
}

export { ews };

/**
 * A meeting the user organised in Outlook (over EWS, impersonating the mailbox), invitations
 * sent to its attendees as Outlook sends them; its EWS ItemId.
 */
export async function organiseMeeting(url: string, mailbox: string, o: { subject: string; start: number; attendees: readonly string[]; optional?: readonly string[]; recurrence?: ews.Recurrence }): Promise<string> {
  const meeting = new ews.Appointment(ewsService(url, mailbox));
  meeting.Subject = o.subject;
  meeting.Start = new ews.DateTime(o.start);
  meeting.End = new ews.DateTime(o.start + 3_600_000);
  for (const a of o.attendees) meeting.RequiredAttendees.Add(a);
  for (const a of o.optional ?? []) meeting.OptionalAttendees.Add(a);
  if (o.recurrence) meeting.Recurrence = o.recurrence;
  await meeting.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToAllAndSaveCopy);
  return meeting.Id.UniqueId;
}
