import { childNamed, type XmlElement } from '../shared/safe-xml.js';
import type { MailboxStore } from './mailbox-store.js';
import { NS } from './namespaces.js';
import { escapeXml } from './xml-writer.js';

/** The SOAP Autodiscover service's namespace (Exchange 2010 and later). */
export const AUTODISCOVER_NS = 'http://schemas.microsoft.com/exchange/2010/Autodiscover';
const WSA_NS = 'http://www.w3.org/2005/08/addressing';
/** Users one GetUserSettings request may name (Exchange refuses more). */
export const MAX_USERS_PER_REQUEST = 100;

/** The settings the sandbox knows; others are answered as not available, as Exchange does. */
type Known = 'UserDisplayName' | 'ExternalEwsUrl' | 'InternalEwsUrl' | 'UserDeploymentId';

/**
 * Exchange's SOAP Autodiscover GetUserSettings, as an on-premises server of a hybrid
 * organisation answers it: a mailbox on premises gets its settings; a mailbox moved to Exchange
 * Online (a remote mailbox on premises) gets RedirectAddress with its target address in the
 * tenant's routing domain; during a move the mailbox is still on premises; an unknown address
 * is InvalidUser. Returns the whole SOAP envelope.
 */
export function getUserSettings(operation: XmlElement, store: MailboxStore, ewsUrl: string, now: number): string {
  const request = childNamed(operation, 'Request');
  const users = (childNamed(request ?? operation, 'Users')?.children ?? []).map((u) => childNamed(u, 'Mailbox')?.text.trim() ?? '');
  const requested = (childNamed(request ?? operation, 'RequestedSettings')?.children ?? []).map((s) => s.text.trim());
  if (!request || users.length === 0 || requested.length === 0) return answer('InvalidRequest', 'The request is invalid: it names no user or no setting.', '');
  if (users.length > MAX_USERS_PER_REQUEST) return answer('InvalidRequest', `The request is invalid: at most ${MAX_USERS_PER_REQUEST} users per request.`, '');
  const tenantDomain = `${store.domain.split('.')[0]}.mail.onmicrosoft.com`;
  const responses = users.map((address) => {
    const mailbox = store.byEmail(address);
    if (!mailbox) return userResponse('InvalidUser', `The user ${address} was not found.`);
    if (mailbox.servedOnPremises(now) === 'gone') {
      const target = `${mailbox.address.split('@')[0]}@${tenantDomain}`;
      return userResponse('RedirectAddress', 'Redirection address.', `<RedirectTarget>${escapeXml(target)}</RedirectTarget>`);
    }
    const values: Record<Known, string> = { UserDisplayName: mailbox.address.split('@')[0], ExternalEwsUrl: ewsUrl, InternalEwsUrl: ewsUrl, UserDeploymentId: '2f5a4c1e-8d3b-4a7e-9c61-0b5d3e7f1a20' };
    const settings = requested.filter((n): n is Known => Object.hasOwn(values, n));
    const missing = requested.filter((n) => !Object.hasOwn(values, n));
    return userResponse('NoError', 'No error.', '<RedirectTarget i:nil="true"/>' +
      `<UserSettingErrors>${missing.map((n) => `<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode><ErrorMessage>User setting '${escapeXml(n)}' is not available.</ErrorMessage><SettingName>${escapeXml(n)}</SettingName></UserSettingError>`).join('')}</UserSettingErrors>` +
      `<UserSettings>${settings.map((n) => `<UserSetting i:type="StringSetting"><Name>${n}</Name><Value>${escapeXml(values[n])}</Value></UserSetting>`).join('')}</UserSettings>`);
  });
  return answer('NoError', '', `<UserResponses>${responses.join('')}</UserResponses>`);
}

function userResponse(code: string, message: string, rest = ''): string {
  return `<UserResponse><ErrorCode>${code}</ErrorCode><ErrorMessage>${escapeXml(message)}</ErrorMessage>${rest}</UserResponse>`;
}

function answer(code: string, message: string, inner: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap}" xmlns:a="${WSA_NS}"><s:Header>` +
    `<a:Action s:mustUnderstand="1">${AUTODISCOVER_NS}/Autodiscover/GetUserSettingsResponse</a:Action>` +
    `<h:ServerVersionInfo xmlns:h="${AUTODISCOVER_NS}" xmlns:i="${NS.xsi}"><h:MajorVersion>15</h:MajorVersion><h:MinorVersion>1</h:MinorVersion><h:MajorBuildNumber>2507</h:MajorBuildNumber><h:MinorBuildNumber>6</h:MinorBuildNumber><h:Version>Exchange2015</h:Version></h:ServerVersionInfo>` +
    `</s:Header><s:Body><GetUserSettingsResponseMessage xmlns="${AUTODISCOVER_NS}"><Response xmlns:i="${NS.xsi}">` +
    `<ErrorCode>${code}</ErrorCode><ErrorMessage>${escapeXml(message)}</ErrorMessage>${inner}</Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>`;
}
