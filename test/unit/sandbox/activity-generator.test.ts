import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivityGenerator } from '../../../src/sandbox/activity-generator.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { MailboxStore } from '../../../src/sandbox/mailbox-store.js';

function run(seed: number): { journal: string[]; counts: ActivityGenerator['counts']; events: number } {
  const store = new MailboxStore({ now: () => Date.parse('2026-11-26T12:00:00Z') });
  store.ensureMailboxes(5);
  let events = 0;
  store.onEvent(() => events++);
  const generator = new ActivityGenerator(store, { seed, now: () => Date.parse('2026-11-26T12:00:00Z') });
  generator.seedItems(3);
  generator.burst(200);
  return { journal: generator.journal.map((r) => `${r.mailbox} ${r.op} ${r.kind} ${r.itemId}`), counts: generator.counts, events };
}

describe('activity generator', () => {
  it('is deterministic for a seed and different for another', () => {
    const a = run(42);
    const b = run(42);
    const c = run(43);
    assert.deepEqual(a.journal, b.journal);
    assert.notDeepEqual(a.journal, c.journal);
  });

  it('counts and journals every change it makes', () => {
    const { journal, counts, events } = run(7);
    assert.equal(counts.total, 200);
    assert.equal(journal.length, 200);
    assert.equal(counts.created + counts.updated + counts.deleted, 200);
    assert.ok(counts.created > 0 && counts.updated > 0 && counts.deleted > 0);
    assert.ok(events >= 200, 'each change is an event in its mailbox');
  });

  it('never edits or deletes an item spared for a person trying the demo, and goes on changing the rest', () => {
    const store = new MailboxStore({ now: () => Date.parse('2026-11-26T12:00:00Z') });
    store.ensureMailboxes(1);
    const mailbox = store.byIndex(1)!;
    const generator = new ActivityGenerator(store, { seed: 3, now: () => Date.parse('2026-11-26T12:00:00Z') });
    generator.seedItems(2);
    const mine = store.createItem(mailbox, 'calendar', 'CalendarItem', { Subject: 'My meeting', Start: '2026-11-27T09:00:00Z', End: '2026-11-27T10:00:00Z' }, new Map());
    const other = store.createItem(mailbox, 'calendar', 'CalendarItem', { Subject: 'Not mine', Start: '2026-11-27T11:00:00Z', End: '2026-11-27T12:00:00Z' }, new Map());
    const mineId = itemIdOf(1, mine.seq);
    assert.equal(store.itemById(mineId), mine, 'found by its ItemId');
    generator.spare(store.itemById(mineId)!);
    generator.burst(400);
    assert.equal(store.itemById(mineId)?.props.Subject, 'My meeting', 'still there as made');
    assert.equal(generator.journal.filter((r) => r.itemId === mineId).length, 0);
    // without sparing, the same burst touches such an item: the rule is what keeps it
    assert.ok(generator.journal.some((r) => r.itemId === itemIdOf(1, other.seq)), 'the other item was edited or deleted');
  });

  it('runs at a rate and stops', async () => {
    const store = new MailboxStore();
    store.ensureMailboxes(2);
    const generator = new ActivityGenerator(store, { seed: 1 });
    generator.setRate(200);
    await new Promise((r) => setTimeout(r, 300));
    generator.stop();
    const made = generator.counts.total;
    assert.ok(made > 10, `made ${made}`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(generator.counts.total, made);
  });
});
