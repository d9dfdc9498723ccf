import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EwsSettings } from '../../../src/config/index.js';
import { exchangeIdentity } from '../../../src/ews/exchange-identity.js';

const settings = (over: Partial<EwsSettings>): EwsSettings => ({
  url: 'https://Mail.Contoso.com/EWS/Exchange.asmx', user: 'svc-sync@contoso.com', passwordEnv: 'P', password: 'secret', impersonation: true,
  version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000, ...over,
} as EwsSettings);

describe('exchangeIdentity (which Exchange the state belongs to)', () => {
  it('is the EWS host and the service account\'s domain, in either spelling of the account', () => {
    assert.equal(exchangeIdentity(settings({})), 'EWS at mail.contoso.com, domain contoso.com');
    assert.equal(exchangeIdentity(settings({ user: 'CONTOSO\\svc-sync' })), 'EWS at mail.contoso.com, domain contoso');
    assert.equal(exchangeIdentity(settings({ url: 'https://mail.contoso.com:8443/EWS/Exchange.asmx' })), 'EWS at mail.contoso.com, domain contoso.com', 'the port is not the organisation');
  });

  it('is the tenant for app-only OAuth', () => {
    const oauth = { authority: 'https://login.microsoftonline.com/Contoso.onmicrosoft.com', clientId: 'c', clientSecret: 's', certificateFile: '', scope: 'https://outlook.office365.com/.default' };
    assert.equal(exchangeIdentity(settings({ auth: 'oauth', oauth, url: 'https://outlook.office365.com/EWS/Exchange.asmx' })), 'EWS at outlook.office365.com, tenant contoso.onmicrosoft.com');
  });

  it('never carries the password', () => {
    assert.doesNotMatch(exchangeIdentity(settings({})), /secret/);
  });
});
