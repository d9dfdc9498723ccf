// The sandbox charges Exchange's throttling limits as Exchange does, at Exchange's defaults:
// a request that impersonates a mailbox is charged to a copy of that mailbox's budget, any
// other to the account's own — HangingConnectionLimit (10 streaming connections),
// EWSMaxSubscriptions (20) and EWSMaxConcurrency (27 requests under way).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LIMITS, startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { soap, textOf } from '../../helpers/ews.js';

const SUBSCRIBE = '<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>';
const GET_FOLDER = '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>';

describe('EWS sandbox: throttling budgets as Exchange charges them, at its defaults', () => {
  let sandbox: Sandbox;
  const held: Array<() => void> = [];
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 4, limits: { heartbeatMs: 1_000 } });
  });
  after(async () => {
    for (const close of held) close();
    await sandbox.close();
  });

  const subscribe = async (mailbox?: string): Promise<{ code: string | undefined; id: string | undefined }> => {
    const r = await soap(sandbox.url, SUBSCRIBE, mailbox ? { mailbox } : {});
    return { code: textOf(r.text, 'ResponseCode'), id: textOf(r.text, 'SubscriptionId') };
  };

  /** Opens GetStreamingEvents (impersonating `mailbox`); resolves with the first chunk's ResponseCode. */
  function openStream(id: string, mailbox: string): Promise<string | undefined> {
    const body = `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${mailbox}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body><m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>${id}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>5</m:ConnectionTimeout></m:GetStreamingEvents></soap:Body></soap:Envelope>`;
    return new Promise((resolve, reject) => {
      const req = request(sandbox.url, { method: 'POST', headers: { 'content-type': 'text/xml', authorization: `Basic ${Buffer.from('svc-sync@contoso.test:sandbox').toString('base64')}` } }, (res) => {
        held.push(() => res.destroy());
        res.once('data', (d: Buffer) => resolve(textOf(d.toString(), 'ResponseCode')));
        res.on('error', () => undefined);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('streaming connections count against the impersonated mailbox: 10 per mailbox, however many mailboxes one account serves', async () => {
    assert.equal(DEFAULT_LIMITS.hangingConnectionLimit, 10);
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) ids.push((await subscribe('user0001@contoso.test')).id!);
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 10; i++) codes.push(await openStream(ids[i], 'user0001@contoso.test'));
    assert.deepEqual(codes, Array(10).fill('NoError'));
    assert.equal(await openStream(ids[10], 'user0001@contoso.test'), 'ErrorExceededConnectionCount', 'the 11th on one mailbox\'s budget');
    const other = (await subscribe('user0002@contoso.test')).id!;
    assert.equal(await openStream(other, 'user0002@contoso.test'), 'NoError', 'another mailbox has a budget of its own, though the account is the same');
  });

  it('subscriptions count against the impersonated mailbox (20 each); without impersonation, against the account', async () => {
    assert.equal(DEFAULT_LIMITS.maxSubscriptionsPerMailbox, 20);
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 21; i++) codes.push((await subscribe('user0003@contoso.test')).code);
    assert.deepEqual(codes, [...Array(20).fill('NoError'), 'ErrorExceededSubscriptionCount']);
    assert.equal((await subscribe('user0004@contoso.test')).code, 'NoError', 'another mailbox\'s budget');
    const own: Array<string | undefined> = [];
    for (let i = 0; i < 21; i++) own.push((await subscribe()).code);
    assert.deepEqual(own, [...Array(20).fill('NoError'), 'ErrorExceededSubscriptionCount'], 'the account\'s own budget, apart from the mailboxes it impersonates');
  });

  it('requests under way count against the budget: the 28th at once is ErrorServerBusy (MaxConcurrency), another mailbox\'s are not', async () => {
    assert.equal(DEFAULT_LIMITS.maxConcurrency, 27);
    sandbox.setLatency(400);
    try {
      const before = sandbox.stats.concurrencyRefusals;
      const answers = await Promise.all([
        ...Array.from({ length: 28 }, () => soap(sandbox.url, GET_FOLDER, { mailbox: 'user0004@contoso.test' })),
        ...Array.from({ length: 5 }, () => soap(sandbox.url, GET_FOLDER, { mailbox: 'user0002@contoso.test' })),
      ]);
      const busy = answers.filter((a) => textOf(a.text, 'ResponseCode') === 'ErrorServerBusy');
      assert.equal(busy.length, 1, `refused: ${busy.length}`);
      assert.match(busy[0].text, /MaxConcurrency/);
      assert.equal(sandbox.stats.concurrencyRefusals - before, 1);
      assert.equal(answers.slice(28).filter((a) => textOf(a.text, 'ResponseCode') !== 'NoError').length, 0, 'user0002\'s budget is its own');
    } finally {
      sandbox.setLatency(0);
    }
  });

  it('a latency profile delays each request as its operation\'s distribution says; the control API switches it and /sandbox/stats reports it', async () => {
    const before = { ...sandbox.latency };
    const set = await fetch(`${sandbox.url.replace(/\/EWS\/Exchange\.asmx$/, '')}/sandbox/latency`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ profile: 'on-premises' }) });
    assert.equal(set.status, 200);
    try {
      for (let i = 0; i < 40; i++) await soap(sandbox.url, GET_FOLDER, { mailbox: 'user0002@contoso.test' });
      const delayed = sandbox.latency.delayed - before.delayed;
      const mean = (sandbox.latency.totalMs - before.totalMs) / delayed;
      assert.equal(delayed, 40);
      // GetFolder on premises: median 30 ms, p99 200 ms — a log-normal's mean lies above its median
      assert.ok(mean > 20 && mean < 120, `mean ${mean} ms`);
      const stats = (await (await fetch(`${sandbox.url.replace(/\/EWS\/Exchange\.asmx$/, '')}/sandbox/stats`)).json()) as { latency: { profile: string; delayed: number } };
      assert.equal(stats.latency.profile, 'on-premises');
      assert.ok(stats.latency.delayed >= 40);
      const refused = await fetch(`${sandbox.url.replace(/\/EWS\/Exchange\.asmx$/, '')}/sandbox/latency`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ profile: 'mars' }) });
      assert.equal(refused.status, 400);
    } finally {
      sandbox.setLatencyProfile('none');
    }
    assert.equal(sandbox.latency.profile, 'none');
  });
});
