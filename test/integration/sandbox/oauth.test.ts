// auth="oauth" against the sandbox's Entra ID: app-only tokens by client credentials (a
// secret or a certificate), cached, acquired anew once when Exchange refuses one (expired,
// revoked), on every request and on every new streaming connection; and what Exchange
// Online refuses: a wrong secret, a token without full_access_as_app, no impersonation.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firstValueFrom, retry, filter } from 'rxjs';
import { generate } from 'selfsigned';
import type { EwsSettings } from '../../../src/config/index.js';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { explainEwsError } from '../../../src/ews/mailbox-check.js';
import { isRetriable } from '../../../src/shared/errors.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { soap, textOf } from '../../helpers/ews.js';

const TENANT = 'contoso-tenant';
const MAILBOX = 'user0001@contoso.test';

describe('EWS with OAuth 2.0 client credentials (Exchange Online app-only) against the sandbox', () => {
  let sandbox: Sandbox;
  let dir: string;
  let certificateFile: string;
  let caFile: string;
  const clients: EwsClient[] = [];

  before(async () => {
    const cert = await generate([{ name: 'commonName', value: 'exchange-crm-sync' }], { keySize: 2048, algorithm: 'sha256' });
    dir = mkdtempSync(join(tmpdir(), 'ecs-oauth-'));
    certificateFile = join(dir, 'app.pem');
    writeFileSync(certificateFile, `${cert.cert}\n${cert.private}`);
    sandbox = await startSandbox({
      mailboxes: 2, limits: { heartbeatMs: 200 },
      oauth: {
        apps: [
          { tenant: TENANT, clientId: 'app-secret', clientSecret: 'app-secret-value' },
          { tenant: TENANT, clientId: 'app-cert', certificate: cert.cert },
          { tenant: TENANT, clientId: 'app-no-role', clientSecret: 'other-secret', roles: [] },
        ],
      },
    });
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, sandbox.tokens!.ca);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sandbox.close();
  });

  const client = (oauth: Partial<NonNullable<EwsSettings['oauth']>>): EwsClient => {
    const settings: EwsSettings = {
      url: sandbox.url, user: '', passwordEnv: 'X', password: '', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000,
      auth: 'oauth', caFile,
      oauth: { authority: sandbox.tokens!.authority(TENANT), clientId: 'app-secret', clientSecret: 'app-secret-value', certificateFile: '', scope: 'https://outlook.office365.com/.default', ...oauth },
    };
    const c = new EwsClient({ settings, gate: new BackoffGate(), maxSockets: 4 });
    clients.push(c);
    return c;
  };

  it('a client secret gets a token once; requests reuse it', async () => {
    const c = client({});
    const issued = sandbox.tokens!.issued;
    assert.equal(Object.keys(await c.folderIds(MAILBOX, ['calendar'])).length, 1);
    await c.syncFolderItems(MAILBOX, 'calendar', null, 10);
    assert.equal(sandbox.tokens!.issued - issued, 1, 'one token for both requests');
  });

  it('a certificate (signed client assertion) gets a token too', async () => {
    const c = client({ clientId: 'app-cert', clientSecret: '', certificateFile });
    assert.equal(Object.keys(await c.folderIds(MAILBOX, ['calendar'])).length, 1);
  });

  it('a token Exchange refuses (revoked, expired) is replaced once and the request goes through', async () => {
    const c = client({});
    await c.folderIds(MAILBOX, ['calendar']);
    const [issued, refusals] = [sandbox.tokens!.issued, sandbox.stats.authFailures];
    sandbox.tokens!.revokeAll();
    assert.equal(Object.keys(await c.folderIds(MAILBOX, ['tasks'])).length, 1);
    assert.equal(sandbox.tokens!.issued - issued, 1, 'a new token');
    assert.equal(sandbox.stats.authFailures - refusals, 1, 'the old one was refused once');
  });

  it('every new streaming connection authenticates; after a revocation the reconnect takes a new token', async () => {
    const c = client({});
    const group = { anchorMailbox: MAILBOX };
    const id = await c.subscribeStreaming(MAILBOX, ['calendar'], group);
    const first = await firstValueFrom(c.streamEvents(group, [id], 1).pipe(filter((m) => m.type === 'heartbeat')));
    assert.equal(first.type, 'heartbeat');
    sandbox.tokens!.revokeAll();
    const issued = sandbox.tokens!.issued;
    // the first try meets the revoked token (401); the retry — the source's reconnect — gets a new one
    const again = await firstValueFrom(c.streamEvents(group, [id], 1).pipe(retry(1), filter((m) => m.type === 'heartbeat')));
    assert.equal(again.type, 'heartbeat');
    assert.equal(sandbox.tokens!.issued - issued, 1);
    sandbox.dropConnections();
  });

  it('both sources and the writes work with it: a pull subscription and its events, an item created and updated', async () => {
    const c = client({});
    const sub = await c.subscribePull(MAILBOX, ['calendar'], 5);
    const made = await c.createItem(MAILBOX, 'calendar', { subject: 'Written with a token', start: '2026-12-21T09:00:00Z', end: '2026-12-21T10:00:00Z' }, 'appointment:7001');
    const updated = await c.updateItem(MAILBOX, 'calendar', made.itemId, { subject: 'Updated with a token', start: '2026-12-21T09:00:00Z', end: '2026-12-21T10:00:00Z' }, made.changeKey);
    assert.equal(updated.status, 'updated');
    const events = await c.getEvents(MAILBOX, sub.subscriptionId, sub.watermark);
    assert.ok(events.events.some((e) => e.itemId === made.itemId), 'the pull subscription saw the write');
  });

  it('a token close to its expiry is renewed before it is refused (no 401)', async () => {
    // a sandbox whose tokens live 303 s: msal renews a token with less than 5 minutes left (whole seconds)
    const short = await startSandbox({ mailboxes: 1, oauth: { apps: [{ tenant: TENANT, clientId: 'app-secret', clientSecret: 'app-secret-value' }], lifetimeSeconds: 303 } });
    const ca = join(dir, 'short-ca.pem');
    writeFileSync(ca, short.tokens!.ca);
    const settings: EwsSettings = {
      url: short.url, user: '', passwordEnv: 'X', password: '', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000, auth: 'oauth', caFile: ca,
      oauth: { authority: short.tokens!.authority(TENANT), clientId: 'app-secret', clientSecret: 'app-secret-value', certificateFile: '', scope: 'https://outlook.office365.com/.default' },
    };
    const c = new EwsClient({ settings, gate: new BackoffGate(), maxSockets: 2 });
    try {
      await c.folderIds(MAILBOX, ['calendar']);
      await new Promise((r) => setTimeout(r, 4_500));
      await c.folderIds(MAILBOX, ['calendar']);
      assert.equal(short.tokens!.issued, 2, 'a new token before the old one ran out');
      assert.equal(short.stats.authFailures, 0, 'Exchange never saw an expired token');
    } finally {
      await c.close();
      await short.close();
    }
  });

  it('a wrong secret: a clear, permanent error naming what the token endpoint said — and no secret in it', async () => {
    const c = client({ clientSecret: 'wrong-secret' });
    const err = (await c.folderIds(MAILBOX, ['calendar']).catch((e: unknown) => e)) as Error;
    assert.match(err.message, /auth="oauth": the token endpoint refused: invalid_client: AADSTS7000215: Invalid client secret provided\.$/);
    assert.match(explainEwsError(err, MAILBOX, 'the app app-secret (auth="oauth")'), /^the token endpoint refused the app app-secret \(auth="oauth"\): invalid_client: AADSTS7000215/);
    assert.equal(isRetriable(err), false);
    assert.doesNotMatch(err.message, /wrong-secret/);
  });

  it('an app without the full_access_as_app permission: Exchange refuses its token (401), asked once more, then the error', async () => {
    const c = client({ clientId: 'app-no-role', clientSecret: 'other-secret' });
    const issued = sandbox.tokens!.issued;
    const err = (await c.folderIds(MAILBOX, ['calendar']).catch((e: unknown) => e)) as { responseCode?: string; message: string };
    assert.equal(err.responseCode, 'HTTP_401');
    assert.match(err.message, /HTTP 401: the token lacks the full_access_as_app role/, 'Exchange\'s reason reaches the operator');
    assert.match(explainEwsError(err, MAILBOX, 'the app app-no-role (auth="oauth")'), /grant the app the Office 365 Exchange Online application permission full_access_as_app with admin consent/);
    assert.equal(sandbox.tokens!.issued - issued, 2, 'one more token after the first refusal, not more');
  });

  it('an app-only token without ExchangeImpersonation is refused, as Exchange Online does', async () => {
    const c = client({});
    await c.folderIds(MAILBOX, ['calendar']);
    const token = await c.credentials.header();
    const r = await soap(sandbox.url, '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>', { auth: token });
    assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorInvalidExchangeImpersonationHeaderData');
  });
});
