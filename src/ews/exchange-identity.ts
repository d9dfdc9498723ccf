import type { EwsSettings } from '../config/index.js';

/**
 * Which Exchange organisation the settings reach, as the sync's state records it: the EWS
 * host with the service account's domain (DOMAIN\user or user@domain), or with the tenant
 * for app-only OAuth. Another server name or domain is another Exchange as far as the state
 * can tell; the operator re-baselines when it is the same one under a new name.
 */
export function exchangeIdentity(settings: EwsSettings): string {
  const host = settings.url ? new URL(settings.url).hostname.toLowerCase() : 'the built-in sandbox';
  if (settings.auth === 'oauth' && settings.oauth) {
    const tenant = new URL(settings.oauth.authority).pathname.split('/').filter(Boolean)[0] ?? settings.oauth.authority;
    return `EWS at ${host}, tenant ${tenant.toLowerCase()}`;
  }
  const user = settings.user.trim();
  const domain = user.includes('\\') ? user.slice(0, user.indexOf('\\')) : user.includes('@') ? user.slice(user.lastIndexOf('@') + 1) : '';
  return `EWS at ${host}${domain ? `, domain ${domain.toLowerCase()}` : ''}`;
}
