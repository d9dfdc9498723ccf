// The handlers against a fake of the CRM port (the contract suite holds the real adapters to
// the same behaviour) and the real mapping store on in-memory PGlite.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ExchangePort } from '../../../src/ews/exchange-port.js';
import { ItemBusyError, ItemMappingStore, ToCrmHandler, ToExchangeHandler, type ConflictReport } from '../../../src/handlers/index.js';
import { CrmError, isRetriable } from '../../../src/shared/errors.js';
import type { ItemFields } from '../../../src/shared/item-fields.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgliteDatabase } from '../../../src/state/index.js';
import type { ChangeEnvelope } from '../../../src/streams/envelope.js';
import { FakeCrm } from '../../helpers/fake-crm.js';

const MAILBOX = 'ann@contoso.test';
let db: PgliteDatabase;
let n = 0;
let mappings: ItemMappingStore;
let crm: FakeCrm;
let conflicts: ConflictReport[];

before(async () => {
  db = await PgliteDatabase.open(null);
});
after(() => db.close());
beforeEach(async () => {
  const schema = `state_${++n}`;
  await ItemMappingStore.migrate(db, schema);
  mappings = new ItemMappingStore(db, schema);
  crm = new FakeCrm([MAILBOX]);
  conflicts = [];
});

let offset = 0;
/** An Exchange change of item `itemId` at ChangeKey `version`, as the next message in partition 0. */
function fromExchange(itemId: string, version: string, fields: Partial<ItemFields> = {}, op: 'c' | 'u' | 'd' = 'u'): [ChangeEnvelope, { partition: number; offset: number }] {
  const after: ItemFields | null = op === 'd' ? null : { subject: 'Planning', start: '2026-12-14T09:00:00Z', end: '2026-12-14T10:00:00Z', version, modified: '2026-12-01T10:00:00Z', ...fields };
  return [{
    specversion: '1.0', v: 2, id: `id-${itemId}-${version}-${op}`, source: `exchange:${MAILBOX}`, type: 'appointment', op, time: '2026-12-01T10:00:00Z',
    position: { kind: 'ews-syncstate', value: 's', scope: `${MAILBOX}:calendar` }, subject: itemId, before: null, after, origin: 'exchange', detectedAt: 0,
  }, { partition: 0, offset: ++offset }];
}

function fromCrm(ref: string, version: string, fields: Partial<ItemFields> = {}): ChangeEnvelope {
  return {
    specversion: '1.0', v: 2, id: `id-${ref}-${version}`, source: 'crm:fake', type: 'appointment', op: 'u', time: '2026-12-01T10:00:00Z',
    position: { kind: 'crm-change-log', value: version, scope: 'fake' }, subject: ref, before: null,
    after: { subject: 'From the CRM', start: '2026-12-14T09:00:00Z', end: '2026-12-14T10:00:00Z', version, associateEmail: MAILBOX, owner: 'associate:1', ...fields }, origin: 'crm', detectedAt: 0,
  };
}

const toCrm = (policy: 'crm-wins' | 'exchange-wins' | 'last-writer-wins' = 'last-writer-wins'): ToCrmHandler =>
  new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'sync', conflict: policy, onConflict: (r) => conflicts.push(r) });

/** Only what the to-exchange handler calls; each call recorded. */
function fakeExchange(calls: string[]): ExchangePort {
  let key = 0;
  return {
    createItem: async () => (calls.push('createItem'), { itemId: `item-${++key}`, changeKey: `ck-${key}` }),
    updateItem: async () => (calls.push('updateItem'), { status: 'updated', changeKey: `ck-${++key}` }),
    deleteItem: async () => (calls.push('deleteItem'), true),
    findStamped: async () => (calls.push('findStamped'), undefined),
  } as unknown as ExchangePort;
}

describe('to-crm handler on a fake CRM', () => {
  it('a new item becomes one record, stamped; the same message again changes nothing; an edit is written at the version read', async () => {
    const handler = toCrm();
    const [created, at] = fromExchange('AAA1', 'ck1');
    assert.equal(await handler.handle(created, at), 'applied');
    assert.equal(crm.records.size, 1);
    const [record] = crm.records.values();
    assert.match(record.stamp ?? '', /^ews:/);
    assert.equal(await handler.handle(created, at), 'unchanged', 'a redelivery');
    assert.equal(record.n, 1);
    assert.equal(await handler.handle(...fromExchange('AAA1', 'ck2', { subject: 'Planning (moved)' })), 'applied');
    assert.equal(record.fields.subject, 'Planning (moved)');
    assert.equal(crm.records.size, 1);
    assert.deepEqual(conflicts, []);
  });

  it('a crash between the CRM write and the mapping: the next attempt finds the stamped record instead of creating a second', async () => {
    const handler = toCrm();
    const [created, at] = fromExchange('AAA2', 'ck1');
    crm.crashAfterNextWrite = new Error('the process died');
    await assert.rejects(handler.handle(created, at), /process died/);
    assert.equal(crm.records.size, 1, 'the record was written, its mapping was not');
    assert.equal(await handler.handle(created, at), 'applied', 'the redelivery');
    assert.equal(crm.records.size, 1, 'no second record');
    assert.ok(crm.calls.includes('findStamped'));
    assert.equal((await mappings.get(MAILBOX, 'AAA2'))?.crmId, [...crm.records.keys()][0]);
  });

  it('an update whose mapping a crash kept from being saved is the sync\'s own write, not a user\'s edit: no conflict', async () => {
    const handler = toCrm('crm-wins');
    await handler.handle(...fromExchange('AAA3', 'ck1'));
    const [edit, at] = fromExchange('AAA3', 'ck2', { subject: 'Edited in Outlook' });
    crm.crashAfterNextWrite = new Error('the process died');
    await assert.rejects(handler.handle(edit, at));
    assert.equal(await handler.handle(edit, at), 'applied');
    assert.deepEqual(conflicts, [], 'crm-wins would have kept the old subject had this been taken for a CRM edit');
    assert.equal([...crm.records.values()][0].fields.subject, 'Edited in Outlook');
  });

  it('a user\'s CRM edit since the last sync is a conflict the policy decides, reported once', async () => {
    for (const [policy, subject] of [['crm-wins', 'Edited in the CRM'], ['exchange-wins', 'Edited in Outlook']] as const) {
      crm = new FakeCrm([MAILBOX]);
      conflicts = [];
      const handler = toCrm(policy);
      await handler.handle(...fromExchange(`AAA4-${policy}`, 'ck1'));
      const ref = [...crm.records.keys()][0];
      crm.userEdit(ref, { subject: 'Edited in the CRM' });
      assert.equal(await handler.handle(...fromExchange(`AAA4-${policy}`, 'ck2', { subject: 'Edited in Outlook' })), policy === 'crm-wins' ? 'unchanged' : 'applied');
      assert.equal(crm.records.get(ref)!.fields.subject, subject);
      assert.deepEqual(conflicts.map((c) => [c.winner, c.crmId]), [[policy === 'crm-wins' ? 'crm' : 'exchange', ref]]);
    }
  });

  it('a retriable CrmError leaves the change to be tried again (nothing saved); a refusal is not retriable', async () => {
    const handler = toCrm();
    const [created, at] = fromExchange('AAA5', 'ck1');
    crm.failNext = new CrmError('UNAVAILABLE', 'the CRM answered 503', { retriable: true });
    const err = await handler.handle(created, at).catch((e: unknown) => e);
    assert.ok(isRetriable(err));
    assert.equal(await mappings.get(MAILBOX, 'AAA5'), undefined);
    assert.equal(await handler.handle(created, at), 'applied');
    crm.failNext = new CrmError('REFUSED', 'a required field is missing');
    assert.equal(isRetriable(await handler.handle(...fromExchange('AAA5', 'ck2')).catch((e: unknown) => e)), false);
  });

  it('a delete in Exchange deletes the record and leaves a tombstone: a late copy of an older change cannot bring it back', async () => {
    const handler = toCrm();
    await handler.handle(...fromExchange('AAA6', 'ck1'));
    assert.equal(await handler.handle(...fromExchange('AAA6', '', {}, 'd')), 'applied');
    assert.equal(crm.records.size, 0);
    assert.equal(await handler.handle(...fromExchange('AAA6', 'ck1')), 'unchanged');
    assert.equal(crm.records.size, 0);
  });

  it('a deleted item in the mailbox again (a restore, a server that lost its last writes) gets a record again; a late copy of a gone item does not', async () => {
    let inMailbox = false;
    const asked: string[] = [];
    const exchange = { getItems: async (_m: string, _f: string, ids: readonly string[]) => ids.map((itemId) => (asked.push(itemId), inMailbox ? { itemId, item: { subject: 'Planning' } } : { itemId, missing: true as const })) };
    const handler = new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'sync', exchange });
    await handler.handle(...fromExchange('AAA9', 'ck1'));
    await handler.handle(...fromExchange('AAA9', '', {}, 'd'));
    assert.equal(await handler.handle(...fromExchange('AAA9', 'ck1')), 'unchanged', 'gone from the mailbox: a late copy');
    assert.deepEqual(asked, ['AAA9']);
    assert.equal(crm.records.size, 0);
    inMailbox = true;
    assert.equal(await handler.handle(...fromExchange('AAA9', 'ck1', { subject: 'Planning (restored)' })), 'applied');
    assert.equal(crm.records.size, 1);
    const [record] = crm.records.values();
    assert.equal(record.fields.subject, 'Planning (restored)');
    const mapping = await mappings.get(MAILBOX, 'AAA9');
    assert.equal(mapping?.deleted, false);
    assert.equal(mapping?.crmId, record.ref);
    assert.equal(await handler.handle(...fromExchange('AAA9', 'ck1', { subject: 'Planning (restored)' })), 'unchanged', 'then an ordinary item: its own version again changes nothing');
  });

  it('a change read over EWS before its mailbox moved to Graph (its id the old protocol\'s) is skipped, not made a new record; a mapped item is not asked about', async () => {
    let now: 'ews-syncstate' | 'graph-delta' = 'ews-syncstate';
    const asked: string[] = [];
    const handler = new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'sync', positionKindOf: async (m) => (asked.push(m), now) });
    assert.equal(await handler.handle(...fromExchange('EWS1', 'ck1')), 'applied', 'before the move: a new item');
    assert.deepEqual(asked, [MAILBOX]);
    now = 'graph-delta';
    assert.equal(await handler.handle(...fromExchange('EWS1', 'ck2', { subject: 'Renamed' })), 'applied', 'its mapping found: applied as ever');
    assert.equal(asked.length, 1, 'a mapped item costs no question');
    assert.equal(await handler.handle(...fromExchange('EWS2', 'ck1')), 'skipped', 'unmapped, read over EWS, the mailbox on Graph now');
    assert.equal(crm.records.size, 1);
  });

  it('an item skipped as private comes back when it is made public again', async () => {
    const handler = new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'skip' });
    await handler.handle(...fromExchange('AAA10', 'ck1'));
    assert.equal(await handler.handle(...fromExchange('AAA10', 'ck2', { private: true })), 'applied');
    assert.equal(crm.records.size, 0);
    assert.equal(await handler.handle(...fromExchange('AAA10', 'ck3', { private: true, subject: 'Still private' })), 'unchanged');
    assert.equal(await handler.handle(...fromExchange('AAA10', 'ck4', { private: false })), 'applied');
    assert.equal(crm.records.size, 1);
    assert.equal((await mappings.get(MAILBOX, 'AAA10'))?.deleted, false);
  });

  it('a series whose exception records fail to be written: the retry of the same message writes them (its place is saved last)', async () => {
    const handler = toCrm();
    const moved = { originalStart: '2026-12-16T09:00:00Z', start: '2026-12-16T11:00:00Z', end: '2026-12-16T12:00:00Z' };
    const [created, at] = fromExchange('AAA11', 'ck1', { recurrence: { rrule: 'FREQ=DAILY;COUNT=5', exdates: [], exceptions: [moved] } });
    crm.failOn = { call: 'exceptions', error: new CrmError('UNAVAILABLE', 'the CRM did not answer', { retriable: true }) };
    await assert.rejects(handler.handle(created, at), /did not answer/);
    assert.equal(await handler.handle(created, at), 'applied', 'the retry');
    const series = [...crm.records.values()].find((r) => !r.fields.seriesRef)!;
    assert.deepEqual([...(await crm.exceptions(series.ref)).keys()], [moved.originalStart]);
    assert.equal(crm.records.size, 2, 'one series, one exception record');
  });

  it('a series coming back with an occurrence deleted in Exchange: the record gets the EXDATE, also when the sync wrote it since; a CRM user\'s pending edit is left to its own echo', async () => {
    const rule = 'FREQ=DAILY;COUNT=5';
    const series = (exdates: string[]): Partial<ItemFields> => ({ recurrence: { rrule: rule, exdates, exceptions: [] } });
    for (const since of ['nothing', 'the sync', 'a user'] as const) {
      crm = new FakeCrm([MAILBOX]);
      const handler = toCrm('crm-wins');
      const itemId = `AAA9-${since}`;
      await handler.handle(...fromExchange(itemId, 'ck1', series(['2026-12-17T09:00:00Z'])));
      const ref = [...crm.records.keys()][0];
      const mapped = (await mappings.get(MAILBOX, itemId))!;
      // after the sync last saved this mapping: an exception row written by the sync (SuperOffice
      // keeps a series' occurrences as rows: its version moves), or a user's edit on its way
      if (since === 'the sync') await crm.update(ref, { ...crm.records.get(ref)!.fields, recurrence: { rrule: rule, exdates: ['2026-12-17T09:00:00Z', '2026-12-18T09:00:00Z'], exceptions: [] } });
      if (since === 'a user') crm.userEdit(ref, { subject: 'Edited in the CRM' });
      // the mailbox's own version (its ChangeKey is the mapping's) with the 15th deleted
      assert.equal(await handler.handle(...fromExchange(itemId, 'ck1', series(['2026-12-15T09:00:00Z', '2026-12-17T09:00:00Z']))), 'unchanged');
      const exdates = [...crm.records.get(ref)!.fields.recurrence!.exdates].sort();
      const expected = {
        nothing: ['2026-12-15T09:00:00Z', '2026-12-17T09:00:00Z'],
        // the 18th deleted in the CRM, not in the mailbox yet: kept; the 15th added
        'the sync': ['2026-12-15T09:00:00Z', '2026-12-17T09:00:00Z', '2026-12-18T09:00:00Z'],
        'a user': ['2026-12-17T09:00:00Z'],
      }[since];
      assert.deepEqual(exdates, expected, `written since the mapping: ${since}`);
      const now = (await mappings.get(MAILBOX, itemId))!;
      // only an exact follow of a record as the sync left it is the sync's version: otherwise a change on its way would count as written
      if (since === 'nothing') assert.equal(now.crmVersion, `v${crm.records.get(ref)!.n}`);
      else assert.equal(now.crmVersion, mapped.crmVersion);
    }
  });
});

describe('to-exchange handler with the fake CRM\'s opaque versions', () => {
  it('a version written already (by the adapter\'s order, not the text\'s) changes nothing; a newer one is written', async () => {
    const calls: string[] = [];
    const handler = new ToExchangeHandler({ mappings, crm, exchange: fakeExchange(calls), logger: silentLogger(), privateItems: 'sync' });
    assert.equal(await handler.handle(fromCrm('appointment:7', 'v9'), MAILBOX), 'applied');
    assert.deepEqual(calls, ['createItem']);
    assert.equal(await handler.handle(fromCrm('appointment:7', 'v9'), MAILBOX), 'unchanged', 'a repeat');
    assert.equal(await handler.handle(fromCrm('appointment:7', 'v10'), MAILBOX), 'applied', '"v10" sorts before "v9" as text, yet it is newer');
    assert.equal(await handler.handle(fromCrm('appointment:7', 'v8'), MAILBOX), 'unchanged', 'an older version comes too late');
    assert.deepEqual(calls, ['createItem', 'updateItem']);
  });

  it('while one direction holds an item, the other is told to try again (never interleaved)', async () => {
    const calls: string[] = [];
    const handler = new ToExchangeHandler({ mappings, crm, exchange: fakeExchange(calls), logger: silentLogger(), privateItems: 'sync' });
    await handler.handle(fromCrm('appointment:8', 'v1'), MAILBOX);
    const mapping = (await mappings.getByCrmId('appointment:8'))!;
    await mappings.holding(mapping.mailbox, mapping.itemId, async () => {
      const err = await handler.handle(fromCrm('appointment:8', 'v2'), MAILBOX).catch((e: unknown) => e);
      assert.ok(err instanceof ItemBusyError && isRetriable(err));
    });
    assert.equal(await handler.handle(fromCrm('appointment:8', 'v2'), MAILBOX), 'applied', 'once the other is done');
    assert.deepEqual(calls, ['createItem', 'updateItem']);
  });
});
