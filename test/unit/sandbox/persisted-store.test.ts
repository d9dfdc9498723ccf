import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ActivityGenerator } from '../../../src/sandbox/activity-generator.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { MailboxStore } from '../../../src/sandbox/mailbox-store.js';
import { CRASH_SKIP, PersistedStore } from '../../../src/sandbox/persisted-store.js';

const inventory = (store: MailboxStore): string[] =>
  store.all().flatMap((m) => [...m.items.values()].map((i) => `${m.address} ${itemIdOf(m.index, i.seq)} ${i.version} ${String(i.props.Subject)} ${[...i.extended.keys()].join()}`)).sort();

function filled(file: string): { store: MailboxStore; persisted: PersistedStore } {
  const store = new MailboxStore();
  const persisted = PersistedStore.open(file, store);
  store.ensureMailboxes(3);
  const activity = new ActivityGenerator(store, { seed: 5 });
  activity.seedItems(4);
  activity.burst(30);
  return { store, persisted };
}

describe('PersistedStore (the built-in sandbox kept in a file)', () => {
  it('a clean stop comes back exactly: items, ItemIds, ChangeKeys, events, the organisation and the epoch', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-persist-')), 'mailboxes.json');
    const { store, persisted } = filled(file);
    assert.equal(persisted.opened.outcome, 'fresh');
    persisted.close();
    const again = new MailboxStore();
    const reopened = PersistedStore.open(file, again);
    assert.equal(reopened.opened.outcome, 'restored');
    assert.equal(reopened.opened.organisation, persisted.opened.organisation);
    assert.equal(reopened.opened.epoch, persisted.opened.epoch, 'SyncStates and watermarks stay valid');
    assert.deepEqual(inventory(again), inventory(store));
    assert.ok(inventory(store).length > 12);
    const [before, after] = [store.all()[1], again.all()[1]];
    assert.deepEqual(after.events, before.events);
    assert.equal(after.nextItemSeq, before.nextItemSeq, 'the next item gets the ItemId it would have got');
    assert.deepEqual([...after.tombstones], [...before.tombstones]);
    reopened.close();
  });

  it('after a crash the last save comes back under another epoch, and numbers continue far ahead', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-persist-')), 'mailboxes.json');
    const { store, persisted } = filled(file);
    // a crash: the file stays as it was saved at open (marked in use), never closed
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { clean: boolean };
    assert.equal(saved.clean, false, 'a running sandbox\'s file says it is in use');
    const again = new MailboxStore();
    const recovered = PersistedStore.open(file, again);
    assert.equal(recovered.opened.outcome, 'recovered');
    assert.equal(recovered.opened.organisation, persisted.opened.organisation);
    assert.notEqual(recovered.opened.epoch, persisted.opened.epoch, 'SyncStates of the lost time are refused');
    // saved at open, before the mailboxes existed: none come back but what is made again
    assert.equal(again.size, 0);
    again.ensureMailboxes(3);
    const item = again.createItem(again.all()[0], 'calendar', 'CalendarItem', { Subject: 'after the crash' }, new Map());
    assert.ok(item.seq > CRASH_SKIP, `the new item's number (${item.seq}) is past any handed out before the crash (${store.all()[0].nextItemSeq - 1})`);
    recovered.close();
  });

  it('saves a few seconds after changes, so a crash loses only those seconds', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-persist-')), 'mailboxes.json');
    const { store, persisted } = filled(file);
    persisted.start(50);
    store.createItem(store.all()[2], 'tasks', 'Task', { Subject: 'saved soon' }, new Map());
    await new Promise((r) => setTimeout(r, 300));
    const again = new MailboxStore();
    const recovered = PersistedStore.open(file, again);
    assert.equal(recovered.opened.outcome, 'recovered');
    assert.ok(inventory(again).some((line) => line.includes('saved soon')));
    assert.equal(inventory(again).length, inventory(store).length);
    persisted.close();
    recovered.close();
  });

  it('a file that is not its data is a clear error, not fresh mailboxes over it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-persist-')), 'mailboxes.json');
    writeFileSync(file, '{"format":1, "store": ');
    assert.throws(() => PersistedStore.open(file, new MailboxStore()), /the built-in sandbox's data in .*mailboxes\.json cannot be read .*: move it away/);
  });

  it('data of the older format (item ids as text, which a state made with it names) is a clear error too', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-persist-')), 'mailboxes.json');
    writeFileSync(file, JSON.stringify({ format: 1, organisation: 'o', epoch: 1, clean: true, savedAt: '', store: {} }));
    assert.throws(() => PersistedStore.open(file, new MailboxStore()), /is of an older format .*: move the data folder away/);
  });
});
