// The contract every mailbox store keeps (src/exchange: MailboxStore), one suite run against
// each protocol on the thing behind it: EWS on the sandbox today, Microsoft Graph on its
// simulator next — as crm-port-contract.ts runs on both CRMs. A user's own edit goes through
// the user's client (Outlook's way for that protocol), never through the store under test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MailboxStore } from '../../src/exchange/index.js';

/** A mailbox user's hands, in their own client. */
export interface MailboxUser {
  /** Renames an item as the user would (a new version of it). */
  rename(itemId: string, subject: string): Promise<void>;
}

export interface StoreUnderTest {
  readonly store: MailboxStore;
  readonly user: MailboxUser;
  /** A mailbox the store may write to. */
  readonly mailbox: string;
  close(): Promise<void>;
}

const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const tomorrowAt = (hourUtc: number): number => (Math.floor(Date.now() / DAY) + 1) * DAY + hourUtc * 3_600_000;

export function mailboxStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`MailboxStore contract: ${name}`, () => {
    let t: StoreUnderTest;
    before(async () => {
      t = await open();
    });
    after(async () => {
      await t.close();
    });

    it('an appointment made stamped is found by its stamp, read with its fields and listed with its version', async () => {
      const start = tomorrowAt(9);
      const made = await t.store.createItem(t.mailbox, 'calendar', { subject: 'Contract: one', start: iso(start), end: iso(start + 3_600_000), location: 'Room 1' }, 'appointment:9001');
      assert.deepEqual(await t.store.findStamped(t.mailbox, 'calendar', 'appointment:9001'), made);
      const [read] = await t.store.getItems(t.mailbox, 'calendar', [made.itemId]);
      assert.equal(read?.itemId, made.itemId);
      assert.equal(read?.item?.subject, 'Contract: one');
      assert.equal(read?.item?.location, 'Room 1');
      assert.equal(Date.parse(read!.item!.start!), start);
      assert.equal(Date.parse(read!.item!.end!), start + 3_600_000);
      assert.equal(read?.item?.crmId, 'appointment:9001');
      assert.equal(read?.item?.version, made.changeKey);
      const listed = (await t.store.listFolder(t.mailbox, 'calendar')).find((i) => i.itemId === made.itemId);
      assert.equal(listed?.changeKey, made.changeKey);
      assert.equal(await t.store.findStamped(t.mailbox, 'calendar', 'appointment:no-such'), undefined);
    });

    it('an update at the version read is written; at an older version (the user edited meanwhile) nothing is written and the current version is told', async () => {
      const start = tomorrowAt(11);
      const made = await t.store.createItem(t.mailbox, 'calendar', { subject: 'Contract: two', start: iso(start), end: iso(start + 1_800_000) }, 'appointment:9002');
      const updated = await t.store.updateItem(t.mailbox, 'calendar', made.itemId, { subject: 'Contract: two, renamed by the sync', start: iso(start), end: iso(start + 1_800_000) }, made.changeKey);
      assert.equal(updated.status, 'updated');
      const version = updated.status === 'updated' ? updated.changeKey : '';
      assert.notEqual(version, made.changeKey);
      await t.user.rename(made.itemId, 'Contract: two, renamed by the user');
      const stale = await t.store.updateItem(t.mailbox, 'calendar', made.itemId, { subject: 'lost update', start: iso(start), end: iso(start + 1_800_000) }, version);
      assert.equal(stale.status, 'conflict');
      const [now] = await t.store.getItems(t.mailbox, 'calendar', [made.itemId]);
      assert.equal(now?.item?.subject, 'Contract: two, renamed by the user', 'the user\'s edit stands');
      assert.equal(stale.status === 'conflict' ? stale.changeKey : undefined, now?.item?.version);
    });

    it('one occurrence of a series is changed and another deleted, by original start; an occurrence that is not there is undefined', async () => {
      const start = tomorrowAt(7);
      const series = await t.store.createItem(t.mailbox, 'calendar', {
        subject: 'Contract: daily', start: iso(start), end: iso(start + 3_600_000), timeZone: 'UTC', recurrence: { rrule: 'FREQ=DAILY;COUNT=5', exdates: [], exceptions: [] },
      }, 'appointment:9003');
      const second = iso(start + DAY);
      const third = iso(start + 2 * DAY);
      const moved = await t.store.updateOccurrence(t.mailbox, series.itemId, second, { subject: 'Contract: daily, moved', start: iso(start + DAY + 3_600_000), end: iso(start + DAY + 7_200_000) });
      assert.ok(moved && moved.before !== moved.after, 'the series\' version before and after');
      assert.ok(await t.store.updateOccurrence(t.mailbox, series.itemId, third, null));
      assert.equal(await t.store.updateOccurrence(t.mailbox, series.itemId, iso(start + 30 * DAY), null), undefined);
      const [read] = await t.store.getItems(t.mailbox, 'calendar', [series.itemId]);
      const recurrence = read?.item?.recurrence;
      assert.deepEqual(recurrence?.exdates.map((d) => Date.parse(d)), [Date.parse(third)]);
      assert.deepEqual(recurrence?.exceptions.map((e) => [Date.parse(e.originalStart), Date.parse(e.start), e.subject]), [[Date.parse(second), start + DAY + 3_600_000, 'Contract: daily, moved']]);
    });

    it('a deleted item: true once, then false; an update says missing; reading says missing; the stamp finds nothing', async () => {
      const start = tomorrowAt(14);
      const made = await t.store.createItem(t.mailbox, 'calendar', { subject: 'Contract: gone', start: iso(start), end: iso(start + 3_600_000) }, 'appointment:9004');
      assert.equal(await t.store.deleteItem(t.mailbox, made.itemId), true);
      assert.equal(await t.store.deleteItem(t.mailbox, made.itemId), false);
      assert.deepEqual(await t.store.updateItem(t.mailbox, 'calendar', made.itemId, { subject: 'x' }), { status: 'missing' });
      const [read] = await t.store.getItems(t.mailbox, 'calendar', [made.itemId]);
      assert.equal(read?.missing, true);
      assert.equal(await t.store.findStamped(t.mailbox, 'calendar', 'appointment:9004'), undefined);
      assert.equal((await t.store.listFolder(t.mailbox, 'calendar')).some((i) => i.itemId === made.itemId), false);
    });

    it('a task is made and read in the tasks folder', async () => {
      const due = iso(tomorrowAt(0));
      const made = await t.store.createItem(t.mailbox, 'tasks', { subject: 'Contract: task', due }, 'task:9005');
      const [read] = await t.store.getItems(t.mailbox, 'tasks', [made.itemId]);
      assert.equal(read?.item?.subject, 'Contract: task');
      assert.equal(read?.item?.crmId, 'task:9005');
      assert.ok((await t.store.listFolder(t.mailbox, 'tasks')).some((i) => i.itemId === made.itemId));
    });

    it('a contact folder: made once (asked twice, one folder), filled in a batch, its stamps read back, renamed, items and folder deleted', async () => {
      const folder = await t.store.ensureContactFolder(t.mailbox, 'Contract: key accounts');
      assert.equal(await t.store.ensureContactFolder(t.mailbox, 'Contract: key accounts'), folder, 'a second ensure adopts the folder');
      const made = await t.store.createContacts(t.mailbox, folder, ['Ada', 'Alan', 'Grace'].map((givenName, i) => ({ crmId: `person:${9100 + i}`, fields: { contact: { givenName, surname: 'Contract', emails: [`${givenName.toLowerCase()}@example.test`], phones: {} } } })));
      assert.equal(made.filter((m) => 'itemId' in m).length, 3);
      const stamped = await t.store.stampedIn(t.mailbox, folder);
      assert.deepEqual([...stamped.keys()].sort(), ['person:9100', 'person:9101', 'person:9102']);
      assert.equal(await t.store.renameFolder(t.mailbox, folder, 'Contract: key accounts 2027'), true);
      await t.store.deleteItems(t.mailbox, [stamped.get('person:9100')!.itemId]);
      assert.deepEqual([...(await t.store.stampedIn(t.mailbox, folder)).keys()].sort(), ['person:9101', 'person:9102']);
      await t.store.deleteItems(t.mailbox, [stamped.get('person:9100')!.itemId, stamped.get('person:9101')!.itemId]);
      assert.deepEqual([...(await t.store.stampedIn(t.mailbox, folder)).keys()], ['person:9102'], 'an id already gone is no error');
      assert.equal(await t.store.deleteFolder(t.mailbox, folder), true);
      assert.equal(await t.store.deleteFolder(t.mailbox, folder), false);
      assert.equal(await t.store.renameFolder(t.mailbox, folder, 'x'), false);
    });
  });
}
