import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../../src/shared/logger.js';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(chunk.toString()); done(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes JSON lines with level, time and message', () => {
    const out = capture();
    createLogger({ destination: out.stream }).info({ event: 'x.y' }, 'hello');
    const [line] = out.lines();
    assert.equal(line.msg, 'hello');
    assert.equal(line.event, 'x.y');
    assert.equal(line.level, 30);
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
  });

  it('redacts secrets wherever they appear, including in child loggers', () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream });
    const child = logger.child({ mailbox: 'user0001@contoso.test' });
    child.info({ ews: { url: 'https://x', password: 'hunter2' }, headers: { authorization: 'Basic abc' }, config: { transport: { sasl: { password: 'p' } } } }, 'connect');
    child.info({ config: { exchange: { ews: { oauth: { clientId: 'c1', clientSecret: 'app-s3cret' } } } }, token: { accessToken: 'eyJ.token' } }, 'oauth');
    const text = JSON.stringify(out.lines());
    assert.ok(!text.includes('app-s3cret'), text);
    assert.ok(!text.includes('eyJ.token'), text);
    assert.ok(!text.includes('hunter2'), text);
    assert.ok(!text.includes('Basic abc'), text);
    assert.ok(!text.includes('"p"'), text);
    assert.match(text, /\[redacted\]/);
    assert.match(text, /user0001@contoso.test/);
  });

  it('removes credentials written into a URL, in messages, fields, bindings and errors', () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream }).child({ endpoint: 'https://svc:b1nd-pw@mail.contoso.test/EWS/Exchange.asmx' });
    logger.info({ url: 'https://svc%40contoso:hunter2@mail.contoso.test/EWS/Exchange.asmx', nested: { list: ['postgres://app:pg-s3cret@db:5432/crm'] } }, 'connecting to https://svc:hunter2@mail.contoso.test/EWS/Exchange.asmx');
    logger.error({ err: new Error('no answer from https://svc:hunter2@mail.contoso.test/EWS') }, 'failed');
    const text = JSON.stringify(out.lines());
    for (const secret of ['hunter2', 'b1nd-pw', 'pg-s3cret']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.match(text, /https:\/\/svc:\*\*\*\*\*@mail\.contoso\.test\/EWS\/Exchange\.asmx/);
    assert.match(text, /postgres:\/\/app:\*\*\*\*\*@db:5432\/crm/);
    assert.match(text, /user|svc/);
  });

  it('pretty: readable lines for a person (secrets still redacted); auto is JSON unless stdout is a terminal', () => {
    const chunks: string[] = [];
    const stream = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } });
    createLogger({ destination: stream as never, format: 'pretty' }).info({ event: 'x.y', ews: { password: 'hunter2' } }, 'hello there');
    const text = chunks.join('');
    assert.match(text, /INFO.*hello there/);
    assert.match(text, /event: "x\.y"/);
    assert.ok(!text.includes('hunter2'), text);
    assert.throws(() => JSON.parse(text.split('\n')[0]), 'not JSON');
    const out = capture();
    createLogger({ destination: out.stream, format: 'auto' }).info('machine');
    assert.equal(out.lines()[0].msg, 'machine', 'auto with a destination that is no terminal: JSON');
  });

  it('serialises errors with their code and retriable flag', () => {
    const out = capture();
    const err = Object.assign(new Error('boom'), { code: 'EWS_ErrorServerBusy', retriable: true });
    createLogger({ destination: out.stream }).error({ err }, 'failed');
    const [line] = out.lines();
    const logged = line.err as Record<string, unknown>;
    assert.equal(logged.message, 'boom');
    assert.equal(logged.code, 'EWS_ErrorServerBusy');
    assert.equal(logged.retriable, true);
  });
});
