// The contract every CRM adapter keeps (CrmPort + CrmChangeFeed + CrmDirectory), one suite
// run against each adapter on the real thing behind it: the reference CRM on PostgreSQL and
// on PGlite, SuperOffice's Web API on its simulator. A change a user makes goes through the
// CRM's own user interface (SQL, REST as another user) — never through the port under test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CrmChange, CrmChangeFeed, CrmDirectory, CrmPort, CrmRef } from '../../src/crm-adapter/index.js';
import type { ItemFields } from '../../src/shared/item-fields.js';
import { waitUntil } from './source-harness.js';

/** A CRM user's hands: the changes the sync must learn of. */
export interface CrmUser {
  createAppointment(ownerEmail: string, title: string, start: string, end: string, options?: { private?: boolean }): Promise<CrmRef>;
  rename(ref: CrmRef, title: string): Promise<void>;
  /** Renames and moves by `deltaMs` in one edit. */
  move(ref: CrmRef, title: string, deltaMs: number): Promise<void>;
  /** A recurring series by `rrule` (and occurrences deleted at `exdates`), in Europe/Berlin; returns the series' record. */
  createSeries(ownerEmail: string, title: string, start: string, end: string, rrule: string, exdates?: readonly string[]): Promise<CrmRef>;
  /** The whole series moved by `deltaMs`. */
  moveSeries(ref: CrmRef, deltaMs: number): Promise<void>;
  setPrivate(ref: CrmRef, value: boolean): Promise<void>;
  /** Every appointment and task, as the CRM's own list shows it (times in UTC). */
  list(): Promise<Array<{ ref: CrmRef; ownerEmail: string; title: string; start: string; end: string }>>;
  delete(ref: CrmRef): Promise<void>;
  /** A person with this e-mail address at a new company. */
  addPerson(email: string, company: string): Promise<{ personRef: CrmRef; contactRef: CrmRef }>;
}

export interface CrmUnderTest {
  readonly port: CrmPort & CrmChangeFeed & CrmDirectory;
  readonly user: CrmUser;
  /** Two or more active associates (their e-mail addresses). */
  readonly associates: readonly string[];
  /** Parts of the contract this adapter does not keep yet, each with the reason (the test says it). */
  readonly notYet?: { readonly recurrence?: string };
  close(): Promise<void>;
}

/** Reads the feed until it has nothing more; returns what it read and where it stands. */
async function drain(feed: CrmChangeFeed, from: string | undefined): Promise<{ changes: CrmChange[]; position: string | undefined }> {
  const changes: CrmChange[] = [];
  let position = from;
  for (let i = 0; i < 1_000; i++) {
    const batch = await feed.read(position, 50);
    changes.push(...batch.changes);
    position = batch.position ?? position;
    if (!batch.more) break;
  }
  return { changes, position };
}

const appointment = (subject: string, extra: Partial<ItemFields> = {}): ItemFields => ({
  subject, body: 'Agenda: numbers', location: 'Room 4', start: '2026-12-14T09:00:00Z', end: '2026-12-14T10:30:00Z', timeZone: 'Europe/Berlin', allDay: false, private: false, ...extra,
});

export function describeCrmPortContract(name: string, setup: () => Promise<CrmUnderTest>): void {
  describe(`CRM port contract: ${name}`, () => {
    let crm: CrmUnderTest;
    let owner: { ref: CrmRef; email: string };
    before(async () => {
      crm = await setup();
      const found = await crm.port.associateByEmail(crm.associates[0].toUpperCase());
      assert.ok(found, 'an associate is found by e-mail, whatever its case');
      owner = found;
    });
    after(() => crm?.close());

    it('the directory lists the active associates; an unknown address is no associate', async () => {
      const listed = (await crm.port.activeAssociateEmails()).map((e) => e.toLowerCase());
      for (const a of crm.associates) assert.ok(listed.includes(a.toLowerCase()), `${a} listed`);
      assert.equal(await crm.port.associateByEmail('nobody@nowhere.test'), undefined);
      assert.match(owner.ref, /^associate:/);
    });

    it('an appointment and a task created by the sync read back as written, stamped, marked as the sync\'s own', async () => {
      const fields = appointment('Quarterly numbers');
      const created = await crm.port.create(owner.ref, 'appointment', fields, 'ews:contract-1');
      assert.match(created.ref, /^appointment:/);
      const read = (await crm.port.get(created.ref))!;
      assert.equal(read.kind, 'appointment');
      assert.equal(read.owner, owner.ref);
      assert.equal(read.version, created.version);
      assert.equal(read.writtenBySync, true);
      for (const k of ['subject', 'body', 'location', 'start', 'end', 'timeZone', 'allDay', 'private'] as const) assert.deepEqual(read.fields[k], fields[k], k);
      assert.equal((await crm.port.findStamped('ews:contract-1'))?.ref, created.ref, 'found by its stamp');
      assert.equal(await crm.port.findStamped('ews:never-stamped'), undefined);

      const task = await crm.port.create(owner.ref, 'task', { subject: 'Send the offer', due: '2026-12-15T16:00:00Z', done: false, private: true }, 'ews:contract-2');
      const readTask = (await crm.port.get(task.ref))!;
      assert.equal(readTask.kind, 'task');
      assert.equal(readTask.fields.due, '2026-12-15T16:00:00Z');
      assert.equal(readTask.fields.done, false);
      assert.equal(readTask.fields.private, true);
      const done = await crm.port.update(task.ref, { ...readTask.fields, done: true }, readTask.version);
      assert.equal(done.status, 'written');
      assert.equal((await crm.port.get(task.ref))!.fields.done, true);
    });

    it('an update at the current version is written and its version is newer; at an older version it is a conflict; a deleted record is missing', async () => {
      const created = await crm.port.create(owner.ref, 'appointment', appointment('Before'), 'ews:contract-3');
      const first = await crm.port.update(created.ref, appointment('After'), created.version);
      assert.equal(first.status, 'written');
      const v2 = (first as { version: string }).version;
      assert.ok(crm.port.compareVersions(v2, created.version) > 0, 'the new version is newer');
      assert.equal(crm.port.compareVersions(v2, v2), 0);
      assert.ok(crm.port.compareVersions(created.version, v2) < 0);
      assert.equal((await crm.port.get(created.ref))!.fields.subject, 'After');
      const stale = await crm.port.update(created.ref, appointment('Too late'), created.version);
      assert.equal(stale.status, 'conflict');
      assert.equal((stale as { current: { fields: ItemFields } }).current.fields.subject, 'After', 'the conflict carries the record as it is');
      assert.equal((await crm.port.get(created.ref))!.fields.subject, 'After', 'nothing written');
      assert.equal(await crm.port.delete(created.ref), true);
      assert.equal(await crm.port.delete(created.ref), false, 'gone already');
      assert.equal(await crm.port.get(created.ref), undefined);
      assert.equal((await crm.port.update(created.ref, appointment('Ghost'))).status, 'missing');
    });

    it('a user\'s edit is not the sync\'s own and makes a newer version', async () => {
      const created = await crm.port.create(owner.ref, 'appointment', appointment('Mine'), 'ews:contract-4');
      await crm.user.rename(created.ref, 'Renamed by a user');
      const read = (await crm.port.get(created.ref))!;
      assert.equal(read.fields.subject, 'Renamed by a user');
      assert.equal(read.writtenBySync, false);
      assert.ok(crm.port.compareVersions(read.version, created.version) > 0);
    });

    it('a weekly series with a deleted occurrence keeps its rule, and an exception is listed by its original start', async (t) => {
      if (crm.notYet?.recurrence) return t.skip(crm.notYet.recurrence);
      const series = await crm.port.create(owner.ref, 'appointment', appointment('Weekly', {
        start: '2026-12-07T08:00:00Z', end: '2026-12-07T09:00:00Z', recurrence: { rrule: 'FREQ=WEEKLY;BYDAY=MO;COUNT=5', exdates: ['2026-12-14T08:00:00Z'], exceptions: [] },
      }), 'ews:contract-5');
      const read = (await crm.port.get(series.ref))!;
      assert.equal(read.fields.recurrence?.rrule, 'FREQ=WEEKLY;BYDAY=MO;COUNT=5');
      assert.deepEqual(read.fields.recurrence?.exdates, ['2026-12-14T08:00:00Z']);
      const exception = await crm.port.create(owner.ref, 'appointment', appointment('Weekly (moved)', {
        start: '2026-12-21T10:00:00Z', end: '2026-12-21T11:00:00Z', seriesRef: series.ref, originalStart: '2026-12-21T08:00:00Z',
      }), 'ews:contract-6');
      const exceptions = await crm.port.exceptions(series.ref);
      assert.deepEqual([...exceptions.keys()], ['2026-12-21T08:00:00Z']);
      assert.equal(exceptions.get('2026-12-21T08:00:00Z')!.ref, exception.ref);
      assert.equal(exceptions.get('2026-12-21T08:00:00Z')!.fields.start, '2026-12-21T10:00:00Z');
      assert.equal(await crm.port.delete(series.ref), true);
      assert.equal(await crm.port.get(exception.ref), undefined, 'a series goes with its exceptions');
    });

    it('meetings join a mother record; attendees are linked to the first CRM person by address', async () => {
      const a = await crm.port.create(owner.ref, 'appointment', appointment('Review'), 'ews:contract-7');
      const version = await crm.port.setMother(a.ref, a.ref);
      assert.ok(version !== undefined && crm.port.compareVersions(version, a.version) > 0);
      assert.equal((await crm.port.get(a.ref))!.fields.motherRef, a.ref);
      const first = await crm.user.addPerson('anna.kunde@customer.test', 'Customer Ltd');
      const second = await crm.user.addPerson('bo.berg@other.test', 'Other AB');
      assert.deepEqual(await crm.port.personByEmail(['nobody@x.test', 'BO.BERG@other.test', 'anna.kunde@customer.test']), second);
      assert.deepEqual(await crm.port.personByEmail(['anna.kunde@customer.test']), first);
      assert.deepEqual(await crm.port.personByEmail([crm.associates[1], 'anna.kunde@customer.test']), first, 'a colleague (an associate) is not a person to link');
      assert.equal(await crm.port.personByEmail(['nobody@x.test']), undefined);
    });

    it('the feed reports users\' changes in order, the sync\'s own as its own, deletes with their owner; resuming repeats nothing', async () => {
      const start = (await drain(crm.port, undefined)).position;
      const theirs = await crm.user.createAppointment(crm.associates[1], 'Made by a user', '2026-12-16T09:00:00Z', '2026-12-16T10:00:00Z');
      const ours = await crm.port.create(owner.ref, 'appointment', appointment('Made by the sync'), 'ews:contract-8');
      let seen: CrmChange[] = [];
      let position = start;
      const collect = async (): Promise<void> => {
        const next = await drain(crm.port, position);
        seen = [...seen, ...next.changes];
        position = next.position;
      };
      await waitUntil(async () => (await collect(), seen.some((c) => c.ref === theirs)), 30_000, 'the user\'s new appointment in the feed');
      const created = seen.filter((c) => c.ref === theirs).at(-1)!;
      assert.ok(created.op === 'c' || created.op === 'u');
      assert.equal(created.bySync, false);
      assert.equal(created.kind, 'appointment');
      assert.equal(created.ownerEmail?.toLowerCase(), crm.associates[1].toLowerCase());
      assert.equal(created.activity?.fields.subject, 'Made by a user');
      assert.equal(created.activity?.fields.start, '2026-12-16T09:00:00Z');
      assert.ok(seen.filter((c) => c.ref === ours.ref).every((c) => c.bySync), 'the sync\'s own write is never a user\'s change');

      seen = [];
      await crm.user.rename(theirs, 'Renamed by the user');
      await waitUntil(async () => (await collect(), seen.some((c) => c.ref === theirs && c.activity?.fields.subject === 'Renamed by the user')), 30_000, 'the rename in the feed');
      seen = [];
      await crm.user.delete(theirs);
      await waitUntil(async () => (await collect(), seen.some((c) => c.ref === theirs && c.op === 'd')), 60_000, 'the delete in the feed');
      const deleted = seen.find((c) => c.ref === theirs && c.op === 'd')!;
      assert.equal(deleted.activity, undefined);
      assert.equal(deleted.ownerEmail?.toLowerCase(), crm.associates[1].toLowerCase(), 'a delete is still routed to its owner');
      const again = await drain(crm.port, position);
      assert.deepEqual(again.changes.filter((c) => !c.bySync), [], 'nothing after the saved position is repeated');
    });

    it('the feed wakes its reader when a user changes something', async () => {
      let woken = 0;
      const stop = await crm.port.onChange(() => woken++);
      try {
        await crm.user.createAppointment(crm.associates[0], 'Wake up', '2026-12-17T09:00:00Z', '2026-12-17T10:00:00Z');
        await waitUntil(() => woken > 0, 15_000, 'a wake-up');
      } finally {
        await stop();
      }
    });
  });
}
