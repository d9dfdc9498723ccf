import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { spawnCli } from '../../helpers/cli.js';
import { post, soap, textOf } from '../../helpers/ews.js';

const MAILBOX = 'user0001@contoso.test';

/**
 * Requests a careless or hostile client sends, each answered as Exchange answers it — and the
 * sandbox keeps answering. It runs in a process of its own here: an endless loop in it (a
 * recurrence that never matches used to be one) must fail this test, not hang the runner.
 */
describe('the EWS sandbox under malformed and hostile requests', () => {
  let child: ChildProcess;
  let url = '';
  let base = '';
  const call = async (body: string, timeoutMs = 15_000): Promise<{ status: number; text: string }> => {
    const r = await Promise.race([
      soap(url, body, { mailbox: MAILBOX }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms: the sandbox is stuck`)), timeoutMs).unref()),
    ]);
    return r;
  };
  const alive = async (): Promise<void> => {
    const r = await call('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>');
    assert.equal(textOf(r.text, 'ResponseCode'), 'NoError', 'the sandbox still answers');
  };
  const recurring = (pattern: string): string =>
    `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>` +
    `<t:Subject>odd series</t:Subject><t:Recurrence>${pattern}<t:NoEndRecurrence><t:StartDate>2027-01-01</t:StartDate></t:NoEndRecurrence></t:Recurrence>` +
    `<t:Start>2027-01-01T09:00:00Z</t:Start><t:End>2027-01-01T10:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>`;

  before(async () => {
    child = spawnCli(['sandbox', '--port', '0', '--mailboxes', '2', '--activity', '0']);
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /EWS endpoint: (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`the sandbox exited with ${code}`)));
    });
    base = url.replace('/EWS/Exchange.asmx', '');
  });
  after(() => {
    child.kill('SIGKILL');
  });

  it('invalid recurrence values are refused as the schema refuses them, and nothing loops', async () => {
    const cases: Array<[string, string, string]> = [
      ['DayOfWeekIndex "Sixth"', '<t:RelativeYearlyRecurrence><t:DaysOfWeek>Monday</t:DaysOfWeek><t:DayOfWeekIndex>Sixth</t:DayOfWeekIndex><t:Month>March</t:Month></t:RelativeYearlyRecurrence>', 'ErrorSchemaValidation'],
      ['a weekday "Funday"', '<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Funday</t:DaysOfWeek><t:DayOfWeekIndex>First</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence>', 'ErrorSchemaValidation'],
      ['DayOfMonth NaN', '<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>NaN</t:DayOfMonth></t:AbsoluteMonthlyRecurrence>', 'ErrorSchemaValidation'],
      ['Interval 0', '<t:DailyRecurrence><t:Interval>0</t:Interval></t:DailyRecurrence>', 'ErrorInvalidRecurrence'],
      ['DayOfMonth 40', '<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>40</t:DayOfMonth></t:AbsoluteMonthlyRecurrence>', 'ErrorInvalidRecurrence'],
    ];
    for (const [what, pattern, code] of cases) {
      const r = await call(recurring(pattern));
      assert.equal(textOf(r.text, 'ResponseCode'), code, `${what}: ${r.text.slice(0, 400)}`);
    }
    await alive();
  });

  it('an operation named after a JavaScript built-in is an unknown operation, not a 200', async () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const r = await call(`<m:${name}/>`);
      assert.equal(r.status, 500, name);
      assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorInvalidRequest', `${name}: ${r.text.slice(0, 300)}`);
    }
    await alive();
  });

  it('FindItem with odd CalendarView and paging values gets the schema fault, not an internal error', async () => {
    const view = (attrs: string): string => `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>${attrs}<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`;
    for (const attrs of [
      '<m:CalendarView StartDate="99999-01-01T00:00:00Z" EndDate="99999-02-01T00:00:00Z"/>',
      '<m:CalendarView StartDate="2027-01-01T00:00:00Z" EndDate="2027-02-01T00:00:00Z" MaxEntriesReturned="many"/>',
      '<m:IndexedPageItemView MaxEntriesReturned="-5" Offset="0" BasePoint="Beginning"/>',
      '<m:IndexedPageItemView MaxEntriesReturned="10" Offset="NaN" BasePoint="Beginning"/>',
    ]) {
      const r = await call(view(attrs));
      assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorSchemaValidation', `${attrs}: ${r.text.slice(0, 300)}`);
      assert.doesNotMatch(r.text, /Invalid time value|Cannot read properties|undefined/);
    }
    await alive();
  });

  it('2 million nested elements are refused at once, and the sandbox lives on', async () => {
    const depth = 2_000_000;
    const xml = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</soap:Body></soap:Envelope>`;
    const r = await post(url, xml);
    assert.equal(textOf(r.text, 'ResponseCode'), 'ErrorSchemaValidation', r.text.slice(0, 300));
    assert.match(r.text, /nested deeper than 64 levels/);
    await alive();
  });

  it('the control API caps its numbers', async () => {
    for (const [path, body] of [['/sandbox/mailboxes', { count: 100_000_000 }], ['/sandbox/activity', { rate: 1e9 }], ['/sandbox/latency', { ms: 1e12 }], ['/sandbox/activity', { burst: 'lots' }]] as const) {
      const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.match(((await r.json()) as { error: string }).error, /must be a number from/);
    }
    const stats = (await (await fetch(`${base}/sandbox/stats`)).json()) as { mailboxes: number };
    assert.equal(stats.mailboxes, 2);
  });
});
