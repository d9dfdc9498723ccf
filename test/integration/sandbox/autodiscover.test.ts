import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EwsSettings } from '../../../src/config/index.js';
import { autodiscoverUrlOf, MailboxAutodiscover } from '../../../src/ews/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';

const settingsOf = (sandbox: Sandbox, password = 'sandbox'): EwsSettings => ({
  url: sandbox.url, user: sandbox.serviceAccount, passwordEnv: 'X', password, impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000,
});

/**
 * On-premises Autodiscover (SOAP GetUserSettings) asked where a hybrid organisation's mailboxes
 * live, through ews-javascript-api against the sandbox: a mailbox Exchange moved online is a
 * remote mailbox on premises and is redirected to its tenant address.
 */
describe('Autodiscover: where a hybrid organisation\'s mailboxes live', () => {
  it('on premises, online (RedirectAddress), still on premises while it moves, unknown addresses left out; 100 users a request, answers kept', async () => {
    const sandbox = await startSandbox({ mailboxes: 150, itemsPerMailbox: 0, seed: 5 });
    const ad = new MailboxAutodiscover(settingsOf(sandbox));
    try {
      const all = sandbox.store.all().map((m) => m.address);
      sandbox.moveMailboxes(all.slice(0, 10), 'online');
      sandbox.moveMailboxes([all[10]], 'online', 600);
      assert.equal(ad.url, autodiscoverUrlOf(sandbox.url));
      assert.match(ad.url, /\/autodiscover\/autodiscover\.svc$/);
      const homes = await ad.homes([...all, 'nobody@contoso.test']);
      assert.equal(ad.requests, 2, '151 addresses: two requests of at most 100');
      assert.deepEqual(all.filter((m) => homes.get(m) === 'online'), all.slice(0, 10));
      assert.equal(homes.get(all[10]), 'on-premises', 'a mailbox being moved is on premises until the move is done');
      assert.equal(all.filter((m) => homes.get(m) === 'on-premises').length, 140);
      assert.equal(homes.has('nobody@contoso.test'), false, 'InvalidUser: not placed');
      // kept: asked again, nothing is sent
      await ad.homes(all.slice(0, 20));
      assert.equal(ad.requests, 2);
      assert.equal(sandbox.stats.requestsByOperation.get('Autodiscover:GetUserSettings'), 2);
    } finally {
      ad.close();
      await sandbox.close();
    }
  });

  it('the sandbox refuses more than 100 users a request, as Exchange does; refused credentials fail the call', async () => {
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0, seed: 6 });
    const wrong = new MailboxAutodiscover(settingsOf(sandbox, 'not-the-password'));
    try {
      const users = Array.from({ length: 101 }, (_, i) => `<a:User><a:Mailbox>u${i}@contoso.test</a:Mailbox></a:User>`).join('');
      const body = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover"><soap:Body>` +
        `<a:GetUserSettingsRequestMessage><a:Request><a:Users>${users}</a:Users><a:RequestedSettings><a:Setting>UserDisplayName</a:Setting></a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>`;
      const response = await fetch(autodiscoverUrlOf(sandbox.url), {
        method: 'POST', body, headers: { 'content-type': 'text/xml; charset=utf-8', authorization: `Basic ${Buffer.from(`${sandbox.serviceAccount}:sandbox`).toString('base64')}` },
      });
      const text = await response.text();
      assert.match(text, /<Response[^>]*><ErrorCode>InvalidRequest<\/ErrorCode><ErrorMessage>[^<]*at most 100 users/);
      await assert.rejects(wrong.homes(['user0001@contoso.test']), /401/);
    } finally {
      wrong.close();
      await sandbox.close();
    }
  });
});
