import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExchangePort, SyncPage } from '../../../src/ews/exchange-port.js';
import { ewsChangeReader } from '../../../src/ews/ews-change-reader.js';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { ExchangeError } from '../../../src/shared/errors.js';
import { Limiter } from '../../../src/shared/limiter.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { FolderSyncer, positionKey } from '../../../src/subscriptions/folder-syncer.js';
import type { MailboxSignal } from '../../../src/subscriptions/mailbox-signal.js';

/** A fake Exchange whose SyncFolderItems answers from a script keyed by the SyncState asked for. */
function fakeExchange(pages: Record<string, SyncPage>): { exchange: ExchangePort; asked: Array<string | null> } {
  const asked: Array<string | null> = [];
  const exchange = {
    syncFolderItems: async (_m: string, _f: string, state: string | null) => {
      asked.push(state);
      const page = pages[state ?? 'null'];
      if (!page) throw new Error(`no scripted page for ${state}`);
      return page;
    },
  } as unknown as ExchangePort;
  return { exchange, asked };
}

function syncer(exchange: ExchangePort, positions: MemoryPositionStore, emitted: MailboxSignal[]): FolderSyncer {
  return new FolderSyncer({
    changes: ewsChangeReader(exchange), positions, limiter: new Limiter(4), logger: silentLogger(), emit: (s) => emitted.push(s), windowPastDays: 3650, windowFutureDays: 3650,
    coalesceMs: 0, retryPolicy: backoffPolicy({ initialMs: 1, maxMs: 5 }), onFailure: (_m, _f, err) => { throw err; }, onSynced: () => undefined,
  });
}

const until = async (predicate: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(predicate(), 'condition not reached');
};

describe('FolderSyncer', () => {
  it('saves a SyncState only after every signal before it is acked', async () => {
    const { exchange } = fakeExchange({
      null: { syncState: 'S1', includesLastItemInRange: true, changes: [{ type: 'Create', itemId: 'A' }, { type: 'Create', itemId: 'B' }] },
    });
    const positions = new MemoryPositionStore();
    const emitted: MailboxSignal[] = [];
    const s = syncer(exchange, positions, emitted);
    s.request('m@x', 'calendar', 'recovery');
    await until(() => emitted.length === 2);
    assert.deepEqual(emitted.map((e) => `${e.op}${e.itemId}`), ['rA', 'rB'], 'a first sync is a resync');
    emitted[1].ack();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(positions.data.get(positionKey('m@x', 'calendar')), undefined);
    emitted[0].ack();
    await until(() => positions.data.get(positionKey('m@x', 'calendar')) === 'S1');
    await s.stop();
  });

  it('after an unclean stop, an item sent on but deleted before its position was saved is checked again (not lost as a ghost)', async () => {
    const positions = new MemoryPositionStore();
    const first = fakeExchange({
      null: { syncState: 'S1', includesLastItemInRange: true, changes: [{ type: 'Create', itemId: 'A' }] },
      S1: { syncState: 'S2', includesLastItemInRange: true, changes: [{ type: 'Create', itemId: 'X' }] },
    });
    const emitted: MailboxSignal[] = [];
    const a = syncer(first.exchange, positions, emitted);
    a.request('m@x', 'calendar', 'recovery');
    await until(() => emitted.length === 1);
    emitted[0].ack();
    await until(() => positions.data.get(positionKey('m@x', 'calendar')) === 'S1');
    a.request('m@x', 'calendar', 'notification');
    await until(() => emitted.length === 2);
    assert.equal(emitted[1].op, 'c');
    // the process dies before X is acked: S2 is never saved. X is then deleted in Exchange,
    // so a replay from S1 does not mention it (created and deleted after S1).
    const second = fakeExchange({ S1: { syncState: 'S3', includesLastItemInRange: true, changes: [] } });
    const again: MailboxSignal[] = [];
    const b = syncer(second.exchange, positions, again);
    b.request('m@x', 'calendar', 'recovery');
    await until(() => again.length === 1);
    assert.deepEqual(second.asked, ['S1'], 'the replay is incremental');
    assert.equal(again[0].itemId, 'X');
    assert.equal(again[0].op, 'r', 'X is fetched again: if it is gone the pipeline publishes its delete');
    again[0].ack();
    await until(() => positions.data.get(positionKey('m@x', 'calendar')) === 'S3');
    await until(() => !positions.data.has('unconfirmed:m@x:calendar'));
    await b.stop();
  });

  it('an item left unchecked by one unclean stop stays on the saved list through a second stop in the middle of the next replay', async () => {
    const positions = new MemoryPositionStore();
    await positions.save(positionKey('m@x', 'calendar'), 'S1');
    await positions.save('unconfirmed:m@x:calendar', JSON.stringify(['X']));
    // the replay from S1 pages: a first page creates Y, the second page never comes (the process dies)
    const hanging = {
      syncFolderItems: async (_m: string, _f: string, state: string | null) => {
        if (state === 'S1') return { syncState: 'S2', includesLastItemInRange: false, changes: [{ type: 'Create', itemId: 'Y' }] };
        return new Promise<SyncPage>(() => undefined);
      },
    } as unknown as ExchangePort;
    const emitted: MailboxSignal[] = [];
    const b = syncer(hanging, positions, emitted);
    b.request('m@x', 'calendar', 'recovery');
    await until(() => emitted.length === 1);
    assert.deepEqual(JSON.parse(positions.data.get('unconfirmed:m@x:calendar')!).sort(), ['X', 'Y'], 'X is kept while unchecked');
    // the next process replays from S1 again, X deleted meanwhile: X and Y are both checked
    const third = fakeExchange({ S1: { syncState: 'S3', includesLastItemInRange: true, changes: [] } });
    const again: MailboxSignal[] = [];
    const c = syncer(third.exchange, positions, again);
    c.request('m@x', 'calendar', 'recovery');
    await until(() => again.length === 2);
    assert.deepEqual(again.map((e) => `${e.op}${e.itemId}`).sort(), ['rX', 'rY']);
    for (const e of again) e.ack();
    await until(() => !positions.data.has('unconfirmed:m@x:calendar'));
    await c.stop();
  });

  it('an inherited item the replay mentions leaves the saved list once the replay is saved', async () => {
    const positions = new MemoryPositionStore();
    await positions.save(positionKey('m@x', 'calendar'), 'S1');
    await positions.save('unconfirmed:m@x:calendar', JSON.stringify(['X']));
    const { exchange } = fakeExchange({ S1: { syncState: 'S2', includesLastItemInRange: true, changes: [{ type: 'Update', itemId: 'X' }, { type: 'Create', itemId: 'Y' }] } });
    const emitted: MailboxSignal[] = [];
    const s = syncer(exchange, positions, emitted);
    s.request('m@x', 'calendar', 'recovery');
    await until(() => emitted.length === 2);
    assert.deepEqual(emitted.map((e) => `${e.op}${e.itemId}`), ['rX', 'rY'], 'no extra check: the replay read X');
    for (const e of emitted) e.ack();
    await until(() => positions.data.get(positionKey('m@x', 'calendar')) === 'S2');
    await until(() => !positions.data.has('unconfirmed:m@x:calendar'));
    await s.stop();
  });

  it('a snapshot (resync, a changed policy) reads from no position, every item as a resync; the saved position stays until the snapshot\'s is saved', async () => {
    const positions = new MemoryPositionStore();
    await positions.save(positionKey('m@x', 'calendar'), 'S1');
    const { exchange, asked } = fakeExchange({
      S1: { syncState: 'S2', includesLastItemInRange: true, changes: [] },
      null: { syncState: 'S9', includesLastItemInRange: true, changes: [{ type: 'Create', itemId: 'A' }, { type: 'Create', itemId: 'B' }] },
    });
    const emitted: MailboxSignal[] = [];
    const s = syncer(exchange, positions, emitted);
    s.request('m@x', 'calendar', 'recovery');
    await until(() => asked.length === 1);
    s.request('m@x', 'calendar', 'snapshot');
    await until(() => emitted.length === 2);
    assert.deepEqual(asked, ['S1', null]);
    assert.deepEqual(emitted.map((e) => `${e.op}${e.itemId}`), ['rA', 'rB']);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(positions.data.get(positionKey('m@x', 'calendar')), 'S2', 'the snapshot\'s position waits for its acks');
    for (const e of emitted) e.ack();
    await until(() => positions.data.get(positionKey('m@x', 'calendar')) === 'S9');
    await s.stop();
  });

  it('a saved position the server no longer accepts (category position-invalid, whatever the protocol) falls back to a full resync', async () => {
    const positions = new MemoryPositionStore();
    await positions.save(positionKey('m@x', 'tasks'), 'STALE');
    const asked: Array<string | null> = [];
    const exchange = {
      syncFolderItems: async (_m: string, _f: string, state: string | null) => {
        asked.push(state);
        // as a Graph port says it (410 syncStateNotFound): the syncer reads only the category
        if (state === 'STALE') throw new ExchangeError('EXCHANGE_GONE', 'invalid', { category: 'position-invalid', protocolCode: 'syncStateNotFound' });
        return { syncState: 'S9', includesLastItemInRange: true, changes: [{ type: 'Create', itemId: 'T' }] };
      },
    } as unknown as ExchangePort;
    const emitted: MailboxSignal[] = [];
    const s = syncer(exchange, positions, emitted);
    s.request('m@x', 'tasks', 'notification');
    await until(() => emitted.length === 1);
    assert.deepEqual(asked, ['STALE', null]);
    assert.equal(emitted[0].op, 'r');
    await s.stop();
  });
});
