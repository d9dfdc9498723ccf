import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { MailboxStore } from '../../../src/exchange/index.js';
import { ExchangeError } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { CsvFileDirectory } from '../../../src/subscriptions/mailbox-directory.js';
import { MailboxPlacement, PlacedDirectory, type PlacedHome } from '../../../src/subscriptions/mailbox-placement.js';
import { placedMailboxStore } from '../../../src/subscriptions/placed-mailbox-store.js';
import { StaticDirectory } from '../../../src/subscriptions/mailbox-directory.js';

describe('a hybrid organisation\'s placement of mailboxes', () => {
  it('the mailbox file\'s home column (by its header, or the second column)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-homes-'));
    writeFileSync(join(dir, 'a.csv'), 'name;address;home\nignored;x@c.test;online\n');
    writeFileSync(join(dir, 'b.csv'), 'Address,Home\nAnn@Contoso.test,Online\nbob@contoso.test,on-premises\ncid@contoso.test,\ndan@contoso.test,somewhere\n');
    writeFileSync(join(dir, 'c.csv'), 'ann@contoso.test;online\nbob@contoso.test\n');
    const b = new CsvFileDirectory(join(dir, 'b.csv'));
    assert.deepEqual(await b.list(), ['ann@contoso.test', 'bob@contoso.test', 'cid@contoso.test', 'dan@contoso.test']);
    assert.deepEqual([...(await b.homes())], [['ann@contoso.test', 'online'], ['bob@contoso.test', 'on-premises']]);
    assert.deepEqual([...(await new CsvFileDirectory(join(dir, 'c.csv')).homes())], [['ann@contoso.test', 'online']]);
    assert.deepEqual([...(await new CsvFileDirectory(join(dir, 'a.csv')).homes())], [], 'the address must be the first column');
  });

  it('the state\'s record wins over the file; a mailbox not recorded yet goes where the file says (else on premises) and is recorded', async () => {
    const positions = new MemoryPositionStore();
    positions.data.set('exchange:protocol:old@contoso.test', 'ews');
    let homes = new Map<string, PlacedHome>([['new@contoso.test', { home: 'online', by: 'the mailbox file' }], ['old@contoso.test', { home: 'online', by: 'the mailbox file' }]]);
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (_o: unknown, msg: string) => void warnings.push(msg) } as unknown as ReturnType<typeof silentLogger>;
    const placement = new MailboxPlacement(positions, async () => homes, logger);
    await placement.load();
    const listed = ['new@contoso.test', 'old@contoso.test', 'plain@contoso.test'];
    assert.deepEqual(await new PlacedDirectory(new StaticDirectory(listed), placement, 'graph').list(), ['new@contoso.test']);
    assert.deepEqual(await new PlacedDirectory(new StaticDirectory(listed), placement, 'ews').list(), ['old@contoso.test', 'plain@contoso.test']);
    assert.equal(positions.data.get('exchange:protocol:new@contoso.test'), 'graph');
    assert.equal(positions.data.get('exchange:protocol:plain@contoso.test'), 'ews');
    assert.deepEqual(placement.toMove(listed), ['old@contoso.test'], 'the file says online, the state is on premises: a move');
    assert.equal(warnings.length, 1, 'said once');
    assert.match(warnings[0], /old@contoso\.test: the mailbox file says it is online.*migrate --to graph old@contoso\.test/);
    homes = new Map();
    placement.moved('old@contoso.test', 'graph');
    assert.equal(placement.protocolOf('old@contoso.test'), 'graph');
    assert.deepEqual(placement.counts(listed), { ews: 1, graph: 2 });
  });

  it('the store sends each call to the mailbox\'s side', async () => {
    const calls: string[] = [];
    const side = (name: string): MailboxStore => new Proxy({ url: name }, { get: (t, p) => (p === 'url' ? name : async (mailbox: string) => void calls.push(`${name}:${String(p)}:${mailbox}`)) }) as unknown as MailboxStore;
    const store = placedMailboxStore({ protocolOf: (m) => (m.startsWith('cloud') ? 'graph' : 'ews'), isMoving: () => false, refresh: async () => false, refusedOnPremises: () => false }, { ews: side('ews'), graph: side('graph') });
    await store.deleteItem('cloud@contoso.test', 'x');
    await store.listFolder('onprem@contoso.test', 'calendar');
    await store.createItem('cloud@contoso.test', 'calendar', {}, 'crm');
    assert.deepEqual(calls, ['graph:deleteItem:cloud@contoso.test', 'ews:listFolder:onprem@contoso.test', 'graph:createItem:cloud@contoso.test']);
  });

  it('while a mailbox moves neither side lists it and its calls wait; a side that refuses a mailbox another instance moved has the record read again', async () => {
    const positions = new MemoryPositionStore();
    positions.data.set('exchange:protocol:ann@contoso.test', 'ews');
    const placement = new MailboxPlacement(positions, undefined, silentLogger());
    await placement.load();
    const listed = ['ann@contoso.test'];
    placement.beginMove('ann@contoso.test');
    assert.deepEqual(await new PlacedDirectory(new StaticDirectory(listed), placement, 'ews').list(), []);
    assert.deepEqual(await new PlacedDirectory(new StaticDirectory(listed), placement, 'graph').list(), []);
    const calls: string[] = [];
    const refusing = new Proxy({}, { get: (_t, p) => (p === 'url' ? 'ews' : async () => {
      calls.push(`ews:${String(p)}`);
      throw new ExchangeError('GONE', 'no such mailbox', { category: 'mailbox-unavailable', protocolCode: 'ErrorNonExistentMailbox' });
    }) }) as unknown as MailboxStore;
    const answering = new Proxy({}, { get: (_t, p) => (p === 'url' ? 'graph' : async () => void calls.push(`graph:${String(p)}`)) }) as unknown as MailboxStore;
    const store = placedMailboxStore(placement, { ews: refusing, graph: answering });
    await assert.rejects(store.deleteItem('ann@contoso.test', 'x'), (err: ExchangeError) => err.retriable && err.protocolCode === 'MailboxMoving');
    assert.deepEqual(calls, [], 'nothing sent while it moves');
    placement.abortMove('ann@contoso.test');
    assert.deepEqual(await new PlacedDirectory(new StaticDirectory(listed), placement, 'ews').list(), listed, 'a failed move gives it back');
    // another instance moved it: EWS refuses, the record says graph now, the call is to be tried again
    positions.data.set('exchange:protocol:ann@contoso.test', 'graph');
    await assert.rejects(store.deleteItem('ann@contoso.test', 'x'), (err: ExchangeError) => err.retriable && /moved by another instance/.test(err.message));
    await store.deleteItem('ann@contoso.test', 'y');
    assert.deepEqual(calls, ['ews:deleteItem', 'graph:deleteItem']);
  });

  it('a mailbox the on-premises side refuses waits while it is looked for in Exchange Online, and fails for good once it was not found', async () => {
    const positions = new MemoryPositionStore();
    positions.data.set('exchange:protocol:bob@contoso.test', 'ews');
    const placement = new MailboxPlacement(positions, undefined, silentLogger());
    await placement.load();
    const refusing = new Proxy({}, { get: (_t, p) => (p === 'url' ? 'ews' : async () => {
      throw new ExchangeError('GONE', 'no such mailbox', { category: 'mailbox-unavailable', protocolCode: 'ErrorNonExistentMailbox' });
    }) }) as unknown as MailboxStore;
    const store = placedMailboxStore(placement, { ews: refusing, graph: refusing });
    // no live mover (not a hybrid sync that follows moves): the refusal is final
    await assert.rejects(store.deleteItem('bob@contoso.test', 'x'), (err: ExchangeError) => !err.retriable && err.protocolCode === 'ErrorNonExistentMailbox');
    let lookingFor = true;
    const asked: string[] = [];
    placement.followWith((m) => {
      asked.push(m);
      return lookingFor;
    });
    await assert.rejects(store.updateItem('bob@contoso.test', 'calendar', 'x', {}), (err: ExchangeError) => err.retriable && /looked for in Exchange Online/.test(err.message));
    lookingFor = false;
    await assert.rejects(store.updateItem('bob@contoso.test', 'calendar', 'x', {}), (err: ExchangeError) => !err.retriable && err.protocolCode === 'ErrorNonExistentMailbox');
    assert.deepEqual(asked, ['bob@contoso.test', 'bob@contoso.test']);
  });
});
