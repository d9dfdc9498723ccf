// auth="ntlm" against a sandbox that offers Windows authentication only (Basic off, as on
// many Exchange 2016/2019 EWS virtual directories): NTLM authenticates a TCP connection, so
// each new connection — each streaming connection too — runs the handshake once, and the
// requests after it on that connection carry no credentials. NTLMv2 is checked against the
// account's password; a wrong one is refused once and never tried again in a loop.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { filter, firstValueFrom } from 'rxjs';
import type { EwsSettings } from '../../../src/config/index.js';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { explainEwsError } from '../../../src/ews/mailbox-check.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { soap } from '../../helpers/ews.js';

const MAILBOX = 'user0001@contoso.test';

describe('EWS with NTLM (Windows authentication) against the sandbox', () => {
  let sandbox: Sandbox;
  const clients: EwsClient[] = [];
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 2, auth: { basic: false, ntlm: true }, limits: { heartbeatMs: 200 } });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sandbox.close();
  });

  const client = (user: string, password: string, maxSockets = 2, authRetryMs?: number): EwsClient => {
    const settings: EwsSettings = { url: sandbox.url, user, passwordEnv: 'X', password, impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000, auth: 'ntlm' };
    const c = new EwsClient({ settings, gate: new BackoffGate(), maxSockets, authRetryMs });
    clients.push(c);
    return c;
  };

  it('Basic is refused by this server; the 401 offers Negotiate and NTLM', async () => {
    const r = await soap(sandbox.url, '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>', { mailbox: MAILBOX });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /Negotiate, NTLM/);
  });

  it('one handshake per connection: 20 requests over one connection, one CHALLENGE', async () => {
    const c = client('CONTOSO\\svc-sync', 'sandbox', 1);
    const before = sandbox.stats.ntlmChallenges;
    for (let i = 0; i < 10; i++) {
      await c.folderIds(MAILBOX, ['calendar']);
      await c.syncFolderItems(MAILBOX, 'calendar', null, 10);
    }
    assert.equal(sandbox.stats.ntlmChallenges - before, 1);
  });

  it('a user principal name works too, and requests in parallel authenticate one connection each', async () => {
    const c = client('svc-sync@contoso.test', 'sandbox', 3);
    const before = sandbox.stats.ntlmChallenges;
    const pages = await Promise.all(Array.from({ length: 9 }, (_, i) => c.syncFolderItems(`user000${(i % 3) + 1}@contoso.test`, 'calendar', null, 10)));
    assert.equal(pages.length, 9);
    const handshakes = sandbox.stats.ntlmChallenges - before;
    assert.ok(handshakes >= 1 && handshakes <= 3, `one per connection, at most 3: ${handshakes}`);
  });

  it('both sources and the writes work with it: a pull subscription and its events, an item created and updated', async () => {
    const c = client('CONTOSO\\svc-sync', 'sandbox');
    const sub = await c.subscribePull(MAILBOX, ['calendar'], 5);
    const made = await c.createItem(MAILBOX, 'calendar', { subject: 'Written over NTLM', start: '2026-12-21T09:00:00Z', end: '2026-12-21T10:00:00Z' }, 'appointment:7002');
    const updated = await c.updateItem(MAILBOX, 'calendar', made.itemId, { subject: 'Updated over NTLM', start: '2026-12-21T09:00:00Z', end: '2026-12-21T10:00:00Z' }, made.changeKey);
    assert.equal(updated.status, 'updated');
    const events = await c.getEvents(MAILBOX, sub.subscriptionId, sub.watermark);
    assert.ok(events.events.some((e) => e.itemId === made.itemId), 'the pull subscription saw the write');
  });

  it('a connection the server closed is authenticated again on the next request', async () => {
    const c = client('CONTOSO\\svc-sync', 'sandbox', 1);
    await c.folderIds(MAILBOX, ['calendar']);
    const before = sandbox.stats.ntlmChallenges;
    await new Promise((r) => setTimeout(r, 50));
    sandbox.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(Object.keys(await c.folderIds(MAILBOX, ['tasks'])).length, 1);
    assert.equal(sandbox.stats.ntlmChallenges - before, 1, 'a new handshake on the new connection');
  });

  it('each streaming connection runs the handshake on its own socket', async () => {
    const c = client('CONTOSO\\svc-sync', 'sandbox');
    const group = { anchorMailbox: MAILBOX };
    const id = await c.subscribeStreaming(MAILBOX, ['calendar'], group);
    const before = sandbox.stats.ntlmChallenges;
    for (let i = 0; i < 2; i++) {
      const m = await firstValueFrom(c.streamEvents(group, [id], 1).pipe(filter((x) => x.type === 'heartbeat')));
      assert.equal(m.type, 'heartbeat');
    }
    assert.equal(sandbox.stats.ntlmChallenges - before, 2, 'two streaming connections, two handshakes');
    sandbox.dropConnections();
  });

  it('a wrong password: refused once (never retried into an account lockout), with a message that says so', async () => {
    const c = client('CONTOSO\\svc-sync', 'wrong-password', 3, 400);
    const [challenges, failures] = [sandbox.stats.ntlmChallenges, sandbox.stats.authFailures];
    const err = (await c.syncFolderItems(MAILBOX, 'calendar', null, 10).catch((e: unknown) => e)) as Error & { responseCode?: string };
    assert.equal(err.responseCode, 'HTTP_401');
    assert.match(err.message, /NTLM: Exchange refused CONTOSO\\svc-sync \(HTTP 401\): the password is wrong, or the account is locked/);
    assert.doesNotMatch(err.message, /wrong-password/);
    assert.equal(sandbox.stats.ntlmChallenges - challenges, 1);
    assert.equal(sandbox.stats.authFailures - failures, 1, 'one refused AUTHENTICATE');
    assert.match(explainEwsError(err, MAILBOX, 'CONTOSO\\svc-sync (auth="ntlm")'), /refused the credentials of CONTOSO\\svc-sync \(auth="ntlm"\).*NTLM/);

    // the sync's next requests — every mailbox, every source — send nothing until the retry time
    for (let i = 0; i < 5; i++) await c.syncFolderItems(MAILBOX, 'calendar', null, 10).catch(() => undefined);
    const group = { anchorMailbox: MAILBOX };
    await firstValueFrom(c.streamEvents(group, ['x'], 1)).catch(() => undefined);
    assert.equal(sandbox.stats.ntlmChallenges - challenges, 1, 'nothing more reached the server');
    assert.match(c.authRefusal() ?? '', /^Exchange refused CONTOSO\\svc-sync \(auth="ntlm"\) at .*: NTLM: Exchange refused/);
    // then one request, one only, tries again
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(Array.from({ length: 3 }, () => c.syncFolderItems(MAILBOX, 'calendar', null, 10).catch(() => undefined)));
    assert.equal(sandbox.stats.ntlmChallenges - challenges, 2, 'one retry after the wait');
    assert.ok(c.authRefusal(), 'still refused');
  });
});
