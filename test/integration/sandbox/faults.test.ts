import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { allTexts, ews, ewsService, post, soap, textOf } from '../../helpers/ews.js';

const getFolder = '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>';

describe('EWS sandbox: authentication, impersonation, versions and faults', () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 3, itemsPerMailbox: 1, minuteMs: 50, limits: { heartbeatMs: 100 } });
    await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/mailboxes`, { method: 'POST', body: JSON.stringify({ deny: 'user0003@contoso.test' }) });
  });
  after(async () => {
    await sandbox.close();
  });

  it('answers 401 without or with wrong Basic credentials', async () => {
    const none = await soap(sandbox.url, getFolder, { auth: null, mailbox: 'user0001@contoso.test' });
    assert.equal(none.status, 401);
    // IIS offers the schemes the EWS virtual directory has on: Windows authentication and Basic
    assert.match(none.headers.get('www-authenticate') ?? '', /^Negotiate, NTLM, Basic realm="contoso.test"$/);
    const wrong = await soap(sandbox.url, getFolder, { auth: `Basic ${Buffer.from('svc-sync@contoso.test:nope').toString('base64')}` });
    assert.equal(wrong.status, 401);
  });

  it('reaches a mailbox through ExchangeImpersonation and says ServerVersionInfo', async () => {
    const r = await soap(sandbox.url, getFolder, { mailbox: 'user0002@contoso.test' });
    assert.equal(r.status, 200);
    assert.match(r.text, /<h:ServerVersionInfo [^>]*MajorVersion="15"/);
    assert.equal(textOf(r.text, 'ResponseCode'), 'NoError');
    const principal = await soap(sandbox.url, getFolder, {
      soapHeader: '<t:ExchangeImpersonation><t:ConnectingSID><t:PrincipalName>user0002@contoso.test</t:PrincipalName></t:ConnectingSID></t:ExchangeImpersonation>',
    });
    assert.equal(textOf(principal.text, 'ResponseCode'), 'NoError');
  });

  it('an unknown mailbox: ErrorNonExistentMailbox; a denied one: ErrorImpersonateUserDenied', async () => {
    const unknown = await soap(sandbox.url, getFolder, { mailbox: 'nobody@contoso.test' });
    assert.equal(unknown.status, 500);
    assert.equal(textOf(unknown.text, 'ResponseCode'), 'ErrorNonExistentMailbox');
    const denied = await soap(sandbox.url, getFolder, { mailbox: 'user0003@contoso.test' });
    assert.equal(textOf(denied.text, 'ResponseCode'), 'ErrorImpersonateUserDenied');
    // and the client library surfaces the code (as a SoapFaultDetails rejection)
    await assert.rejects(() => ews.Folder.Bind(ewsService(sandbox.url, 'nobody@contoso.test'), ews.WellKnownFolderName.Calendar),
      (e: { ResponseCode?: number }) => ews.ServiceError[e.ResponseCode!] === 'ErrorNonExistentMailbox');
  });

  it('accepts RequestServerVersion Exchange2010_SP2 to Exchange2016 and refuses others', async () => {
    for (const v of ['Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2016']) {
      assert.equal(textOf((await soap(sandbox.url, getFolder, { version: v, mailbox: 'user0001@contoso.test' })).text, 'ResponseCode'), 'NoError', v);
    }
    const old = await soap(sandbox.url, getFolder, { version: 'Exchange2007_SP1', mailbox: 'user0001@contoso.test' });
    assert.equal(old.status, 500);
    assert.equal(textOf(old.text, 'ResponseCode'), 'ErrorInvalidServerVersion');
  });

  it('malformed XML and DOCTYPEs get a SOAP fault, not an answer', async () => {
    const broken = await post(sandbox.url, '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:GetFolder>');
    assert.equal(broken.status, 500);
    assert.match(broken.text, /<s:Fault>.*<faultcode[^>]*>s:Client<\/faultcode>/s);
    assert.equal(textOf(broken.text, 'ResponseCode'), 'ErrorSchemaValidation');
    const xxe = await post(sandbox.url, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;</soap:Body></soap:Envelope>');
    assert.equal(xxe.status, 500);
    assert.match(xxe.text, /DOCTYPE is not allowed/);
    assert.doesNotMatch(xxe.text, /root:/);
    const notSoap = await post(sandbox.url, '<hello/>');
    assert.equal(textOf(notSoap.text, 'ResponseCode'), 'ErrorSchemaValidation');
  });

  it('tolerates elements in any order the schema allows and unknown FieldURIs', async () => {
    const body = `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:NetShowUrl"/><t:FieldURI FieldURI="contacts:Manager"/></t:AdditionalProperties></m:ItemShape>` +
      `<m:ItemIds><t:ItemId Id="${itemIdOf(1, 1)}"/></m:ItemIds></m:GetItem>`;
    const r = await soap(sandbox.url, body, { mailbox: 'user0001@contoso.test' });
    assert.equal(textOf(r.text, 'ResponseCode'), 'NoError');
    assert.ok(textOf(r.text, 'Subject'));
    assert.doesNotMatch(r.text, /NetShowUrl|Manager/, 'a property the item does not have is simply absent');
  });

  it('ErrorItemNotFound, ErrorInvalidIdMalformed, ErrorInvalidSyncStateData per message', async () => {
    const body = `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="${itemIdOf(1, 424242)}"/><t:ItemId Id="!!"/></m:ItemIds></m:GetItem>`;
    const r = await soap(sandbox.url, body, { mailbox: 'user0001@contoso.test' });
    assert.deepEqual(allTexts(r.text, 'ResponseCode'), ['ErrorItemNotFound', 'ErrorInvalidIdMalformed']);
    const sync = await soap(sandbox.url, '<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:SyncState>bm9uc2Vuc2U=</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>', { mailbox: 'user0001@contoso.test' });
    assert.equal(textOf(sync.text, 'ResponseCode'), 'ErrorInvalidSyncStateData');
    const tooMany = await soap(sandbox.url, '<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>513</m:MaxChangesReturned></m:SyncFolderItems>', { mailbox: 'user0001@contoso.test' });
    assert.equal(tooMany.status, 500);
    assert.equal(textOf(tooMany.text, 'ResponseCode'), 'ErrorSchemaValidation');
  });

  it('a restart loses subscriptions (ErrorSubscriptionNotFound) but keeps mailbox data', async () => {
    const service = ewsService(sandbox.url, 'user0001@contoso.test');
    const items = sandbox.store.itemCount();
    const sub = await service.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 10, null as never, ews.EventType.Created);
    await sub.GetEvents();
    const r = await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/restart`, { method: 'POST' });
    assert.deepEqual(await r.json(), { restarted: true });
    await assert.rejects(() => sub.GetEvents(), (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorSubscriptionNotFound');
    assert.equal(sandbox.store.itemCount(), items);
  });

  it('a pull subscription expires after its Timeout without GetEvents: ErrorExpiredSubscription', async () => {
    const service = ewsService(sandbox.url, 'user0002@contoso.test');
    const sub = await service.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 2, null as never, ews.EventType.Created);
    await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 150 }) });
    await assert.rejects(() => sub.GetEvents(), (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorExpiredSubscription');
  });

  it('a foreign or unknown watermark: ErrorInvalidWatermark', async () => {
    const service = ewsService(sandbox.url, 'user0002@contoso.test');
    await assert.rejects(
      () => service.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 2, Buffer.from('WM:1:2:99999').toString('base64'), ews.EventType.Created),
      (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorInvalidWatermark',
    );
  });

  it('throttling answers ErrorServerBusy with BackOffMilliseconds, and counts clients that come back too soon', async () => {
    const set = await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/throttle`, { method: 'POST', body: JSON.stringify({ probability: 1, backOffMilliseconds: 1_500 }) });
    assert.equal(set.status, 200);
    const r = await soap(sandbox.url, getFolder, { mailbox: 'user0001@contoso.test' });
    assert.equal(r.status, 500);
    assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorServerBusy');
    assert.match(r.text, /<t:Value Name="BackOffMilliseconds">1500<\/t:Value>/);
    await assert.rejects(() => ews.Folder.Bind(ewsService(sandbox.url, 'user0001@contoso.test'), ews.WellKnownFolderName.Calendar),
      (e: { ResponseCode?: number; ErrorDetails?: { get(k: string): string } }) =>
        ews.ServiceError[e.ResponseCode!] === 'ErrorServerBusy' && Number(e.ErrorDetails!.get('BackOffMilliseconds')) === 1_500);
    const violationsBefore = sandbox.stats.backoffViolations;
    // well past the in-flight grace (100 ms and the sandbox's own recent loop stalls), well before the 1.5 s
    await new Promise((resolve) => setTimeout(resolve, 500));
    await soap(sandbox.url, getFolder, { mailbox: 'user0001@contoso.test' }); // too soon
    assert.equal(sandbox.stats.backoffViolations, violationsBefore + 1);
    await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/throttle`, { method: 'POST', body: JSON.stringify({ probability: 0 }) });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    assert.equal(textOf((await soap(sandbox.url, getFolder, { mailbox: 'user0001@contoso.test' })).text, 'ResponseCode'), 'NoError');
    assert.equal(sandbox.stats.backoffViolations, violationsBefore + 1, 'a request after the wait is fine');
  });

  it('control API: latency, stats, activity, bad input', async () => {
    const base = `http://127.0.0.1:${sandbox.port}/sandbox`;
    assert.equal((await fetch(`${base}/latency`, { method: 'POST', body: JSON.stringify({ ms: 120 }) })).status, 200);
    const started = Date.now();
    await soap(sandbox.url, getFolder, { mailbox: 'user0001@contoso.test' });
    assert.ok(Date.now() - started >= 100, 'latency applied');
    await fetch(`${base}/latency`, { method: 'POST', body: JSON.stringify({ ms: 0 }) });
    const burst = await (await fetch(`${base}/activity`, { method: 'POST', body: JSON.stringify({ burst: 25 }) })).json() as { counts: { total: number } };
    assert.ok(burst.counts.total >= 25);
    const journal = await (await fetch(`${base}/activity/journal?after=0`)).json() as { records: Array<{ op: string; itemId: string }> };
    assert.ok(journal.records.length >= 25);
    assert.ok(journal.records.every((r) => ['c', 'u', 'd'].includes(r.op) && r.itemId));
    const stats = await (await fetch(`${base}/stats`)).json() as Record<string, unknown>;
    assert.equal(stats.mailboxes, 3);
    assert.ok((stats.requestsByOperation as Record<string, number>).GetFolder > 0);
    assert.ok((stats.errorsByCode as Record<string, number>).ErrorServerBusy > 0);
    assert.equal((await fetch(`${base}/throttle`, { method: 'POST', body: JSON.stringify({ probability: 2 }) })).status, 400);
    assert.equal((await fetch(`${base}/throttle`, { method: 'POST', body: 'not json' })).status, 400);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});

describe('EWS sandbox: streaming connections over raw HTTP', () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 2, minuteMs: 400, limits: { heartbeatMs: 100, hangingConnectionLimit: 2 } });
  });
  after(async () => {
    await sandbox.close();
  });

  async function streamingSubscribe(mailbox: string): Promise<string> {
    const r = await soap(sandbox.url, '<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>', { mailbox });
    return textOf(r.text, 'SubscriptionId')!;
  }

  /** Opens GetStreamingEvents and collects the raw chunks as they arrive. */
  function open(ids: string[], minutes: number): { chunks: string[]; done: Promise<{ aborted: boolean }> } {
    const chunks: string[] = [];
    const body = `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body><m:GetStreamingEvents><m:SubscriptionIds>${ids.map((i) => `<t:SubscriptionId>${i}</t:SubscriptionId>`).join('')}</m:SubscriptionIds><m:ConnectionTimeout>${minutes}</m:ConnectionTimeout></m:GetStreamingEvents></soap:Body></soap:Envelope>`;
    const done = new Promise<{ aborted: boolean }>((resolve) => {
      const req = request(sandbox.url, { method: 'POST', headers: { 'content-type': 'text/xml', authorization: `Basic ${Buffer.from('svc-sync@contoso.test:sandbox').toString('base64')}` } }, (res) => {
        assert.equal(res.headers['transfer-encoding'], 'chunked');
        res.on('data', (d: Buffer) => chunks.push(d.toString()));
        res.on('end', () => resolve({ aborted: false }));
        res.on('aborted', () => resolve({ aborted: true }));
        res.on('error', () => resolve({ aborted: true }));
      });
      req.on('error', () => resolve({ aborted: true }));
      req.end(body);
    });
    return { chunks, done };
  }

  it('one envelope per notification batch, keep-alives while idle, ConnectionStatus Closed at the timeout', async () => {
    const ids = [await streamingSubscribe('user0001@contoso.test'), await streamingSubscribe('user0002@contoso.test')];
    const { chunks, done } = open(ids, 1);
    await new Promise((r) => setTimeout(r, 150));
    const mailbox = sandbox.store.byIndex(2)!;
    sandbox.store.createItem(mailbox, 'calendar', 'CalendarItem', { Subject: 'streamed', Start: '2026-12-01T09:00:00Z', End: '2026-12-01T10:00:00Z' }, new Map());
    const { aborted } = await done;
    assert.equal(aborted, false);
    const envelopes = chunks.join('').split('</Envelope>').filter((e) => e.trim()).map((e) => `${e}</Envelope>`);
    assert.ok(envelopes.length >= 3, `got ${envelopes.length} envelopes`);
    assert.ok(envelopes.every((e) => e.startsWith('<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">')));
    const heartbeats = envelopes.filter((e) => /<m:ConnectionStatus>OK<\/m:ConnectionStatus>/.test(e) && !/Notification/.test(e));
    assert.ok(heartbeats.length >= 1, 'keep-alive envelopes while idle');
    const withEvents = envelopes.filter((e) => /<m:Notifications>/.test(e));
    assert.equal(withEvents.length, 1);
    assert.match(withEvents[0], new RegExp(`<t:SubscriptionId>${ids[1].replace(/[+/=]/g, (c) => `\\${c}`)}</t:SubscriptionId><t:CreatedEvent>`));
    assert.match(envelopes[envelopes.length - 1], /<m:ConnectionStatus>Closed<\/m:ConnectionStatus>/);
  });

  it('unknown subscription ids are reported in ErrorSubscriptionIds; the others keep streaming', async () => {
    const good = await streamingSubscribe('user0001@contoso.test');
    const { chunks, done } = open([good, 'bm90LWEtc3Vic2NyaXB0aW9u'], 1);
    await new Promise((r) => setTimeout(r, 100));
    sandbox.dropConnections();
    await done;
    const text = chunks.join('');
    assert.match(text, /ResponseClass="Error".*<m:ResponseCode>ErrorSubscriptionNotFound<\/m:ResponseCode>.*<m:ErrorSubscriptionIds><t:SubscriptionId>bm90LWEtc3Vic2NyaXB0aW9u<\/t:SubscriptionId><\/m:ErrorSubscriptionIds><m:ConnectionStatus>OK/s);
  });

  it('a dropped connection ends mid-chunk', async () => {
    const id = await streamingSubscribe('user0002@contoso.test');
    const { chunks, done } = open([id], 5);
    await new Promise((r) => setTimeout(r, 100));
    const dropped = await (await fetch(`http://127.0.0.1:${sandbox.port}/sandbox/drop-connections`, { method: 'POST' })).json() as { dropped: number };
    assert.equal(dropped.dropped, 1);
    const { aborted } = await done;
    assert.equal(aborted, true);
    const text = chunks.join('');
    assert.ok(text.length > 0);
    assert.ok(!text.trimEnd().endsWith('</Envelope>'), 'the last envelope is cut off');
  });

  it('the HangingConnectionLimit per account is enforced: ErrorExceededConnectionCount', async () => {
    const a = open([await streamingSubscribe('user0001@contoso.test')], 5);
    const b = open([await streamingSubscribe('user0002@contoso.test')], 5);
    await new Promise((r) => setTimeout(r, 100));
    const third = await soap(sandbox.url, `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>${await streamingSubscribe('user0001@contoso.test')}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`);
    assert.equal(textOf(third.text, 'ResponseCode'), 'ErrorExceededConnectionCount');
    sandbox.dropConnections();
    await Promise.all([a.done, b.done]);
  });

  it('ConnectionTimeout outside 1–30 minutes is a schema fault', async () => {
    const r = await soap(sandbox.url, '<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>x</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>31</m:ConnectionTimeout></m:GetStreamingEvents>');
    assert.equal(r.status, 500);
    assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorSchemaValidation');
  });
});
