// The sync policy's item rules on real parts (EWS sandbox, streaming; the log, the state and
// the reference CRM on PostgreSQL): private="busy" gives the CRM a blocker and keeps the CRM's
// edits of it out of the mailbox; <categories include/exclude> decide which Outlook items
// reach the CRM, and an item that gains or loses a category leaves or comes back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CrmActivity, CrmRef } from '../../../src/crm-adapter/index.js';
import { ToExchangeHandler, verdictOf } from '../../../src/handlers/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { crmChangeMessage, parseEnvelope } from '../../../src/streams/index.js';
import { verifyMailbox } from '../../../src/ops/verify.js';
import { ewsIdOf } from '../../../src/sandbox/graph/graph-ids.js';
import { DEFAULT_TASK_LIST } from '../../../src/superoffice-sandbox/store.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { soClient } from '../../helpers/superoffice.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { startTwoWayRig, type TwoWayRig } from '../../helpers/two-way-rig.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Outlook {
  subject: string;
  body?: string;
  location?: string;
  private?: boolean;
  categories?: string[];
}

/** A user's new appointment in Outlook; its ItemId. */
async function inOutlook(rig: TwoWayRig, mailbox: string, item: Outlook): Promise<string> {
  const a = new ews.Appointment(ewsService(rig.sandbox.url, mailbox));
  a.Subject = item.subject;
  if (item.body) a.Body = new ews.MessageBody(ews.BodyType.Text, item.body);
  if (item.location) a.Location = item.location;
  if (item.private) a.Sensitivity = ews.Sensitivity.Private;
  if (item.categories) a.Categories = new ews.StringList(item.categories);
  a.Start = new ews.DateTime(Date.parse('2026-12-11T08:00:00Z'));
  a.End = new ews.DateTime(Date.parse('2026-12-11T09:00:00Z'));
  await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
  return a.Id.UniqueId;
}

async function editInOutlook(rig: TwoWayRig, mailbox: string, itemId: string, change: (a: ews.Appointment) => void): Promise<void> {
  const a = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId));
  change(a);
  await a.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
}

async function outlookSubject(rig: TwoWayRig, mailbox: string, itemId: string): Promise<string | undefined> {
  const a = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]));
  return a.Subject;
}

/** The live record an item is mapped to, and whether it is a blocker. */
async function recordOf(rig: TwoWayRig, mailbox: string, itemId: string): Promise<{ ref: CrmRef; blocker: boolean } | undefined> {
  const { rows } = await rig.db.query<{ crm_id: string; blocker: boolean }>(`select crm_id, blocker from ${rig.stateSchema}.item_map where mailbox = $1 and item_id = $2 and not deleted`, [mailbox, itemId]);
  return rows[0] ? { ref: rows[0].crm_id as CrmRef, blocker: rows[0].blocker } : undefined;
}

/**
 * A CRM user's edit of a record that the feed read just before the record left the CRM, handed
 * to a to-exchange handler late; what it did and the mailbox's calendar size before and after.
 */
async function replayLateEdit(rig: TwoWayRig, mailbox: string, recordBefore: CrmActivity, subject: string, privateItems: 'sync' | 'skip'): Promise<{ outcome: string; itemsBefore: number; itemsAfter: number }> {
  const late = parseEnvelope(crmChangeMessage('reference', {
    ref: recordBefore.ref, kind: 'appointment', op: 'u', time: Date.now(), bySync: false, owner: recordBefore.owner, ownerEmail: mailbox, position: 'late',
    activity: { ...recordBefore, fields: { ...recordBefore.fields, subject, version: '99' }, version: '99', writtenBySync: false },
  }).value);
  const calendar = (): number => rig.sandbox.store.itemsIn(rig.sandbox.store.byEmail(mailbox)!, 'calendar').length;
  const itemsBefore = calendar();
  const toExchange = new ToExchangeHandler({ mappings: rig.mappings, crm: rig.crm, exchange: rig.exchange, logger: silentLogger(), privateItems });
  const outcome = await toExchange.handle(late, mailbox);
  return { outcome, itemsBefore, itemsAfter: calendar() };
}

/** Both handler groups have consumed everything, and stay so a moment (echoes included). */
async function quiet(rig: TwoWayRig): Promise<void> {
  await waitUntil(() => rig.drained(), 20_000, 'quiet');
  await settle(800);
  await waitUntil(() => rig.drained(), 20_000, 'quiet');
}

describe('sync policy: private items and categories', () => {
  for (const crm of ['reference', 'superoffice'] as const) it(`private="busy" (${crm}): the CRM gets the time and "Private", nothing else; the CRM's edit and delete of the blocker stay out of the mailbox`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 241, privateItems: 'busy', crm });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const itemId = await inOutlook(rig, mailbox, { subject: 'Doctor', body: 'Blood test, bring the card', location: 'Practice Dr. Meyer', private: true });
      let mapped: { ref: CrmRef; blocker: boolean } | undefined;
      await waitUntil(async () => !!(mapped = await recordOf(rig, mailbox, itemId)), 20_000, 'a record for the private item');
      await quiet(rig);
      const record = (await rig.crm.get(mapped!.ref))!;
      assert.equal(mapped!.blocker, true, 'the mapping knows the record is a blocker');
      assert.equal(record.fields.subject, 'Private');
      assert.equal(record.fields.start, '2026-12-11T08:00:00Z');
      assert.equal(record.fields.end, '2026-12-11T09:00:00Z');
      assert.ok(!record.fields.body, `no body in the CRM: ${record.fields.body}`);
      assert.ok(!record.fields.location, `no location in the CRM: ${record.fields.location}`);

      // a CRM user renames the blocker: the mailbox keeps its item as it is
      const crmChangesBefore = await rig.published('crm.changes');
      await rig.user.rename(mapped!.ref, 'What is this?');
      await waitUntil(async () => (await rig.published('crm.changes')) > crmChangesBefore && (await rig.drained()), 20_000, 'the CRM edit handled');
      await quiet(rig);
      assert.equal(await outlookSubject(rig, mailbox, itemId), 'Doctor', 'the CRM\'s edit of a blocker is not written to the mailbox');

      // the user edits the item in Outlook: the record is the blocker again
      await editInOutlook(rig, mailbox, itemId, (a) => (a.Location = 'Hospital'));
      await waitUntil(async () => (await rig.crm.get(mapped!.ref))?.fields.subject === 'Private', 20_000, 'the blocker restored by the item\'s next change');
      assert.ok(!(await rig.crm.get(mapped!.ref))!.fields.location);

      // a CRM user deletes the blocker: the private item stays in the mailbox
      await rig.user.delete(mapped!.ref);
      await waitUntil(async () => !(await recordOf(rig, mailbox, itemId)) && (await rig.drained()), 20_000, 'the CRM delete handled');
      await quiet(rig);
      assert.equal(await outlookSubject(rig, mailbox, itemId), 'Doctor', 'the CRM\'s delete of a blocker does not delete the item');
      // ... and its next change in Outlook gives the CRM a blocker again
      await editInOutlook(rig, mailbox, itemId, (a) => (a.Location = 'Practice'));
      await waitUntil(async () => (await recordOf(rig, mailbox, itemId))?.blocker === true, 20_000, 'a new blocker');
      assert.equal((await rig.crm.get((await recordOf(rig, mailbox, itemId))!.ref))!.fields.subject, 'Private');

      // made public in Outlook: the record gets the item's fields
      await editInOutlook(rig, mailbox, itemId, (a) => (a.Sensitivity = ews.Sensitivity.Normal));
      await waitUntil(async () => (await rig.crm.get((await recordOf(rig, mailbox, itemId))!.ref))?.fields.subject === 'Doctor', 20_000, 'the record is the item again');
      assert.equal((await recordOf(rig, mailbox, itemId))!.blocker, false);
    } finally {
      await rig.close();
    }
  });

  for (const crm of ['reference', 'superoffice'] as const) it(`<categories exclude="Personal"> (${crm}): such items stay out of the CRM; one that gains the category leaves it, and comes back without it`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 242, categories: { include: [], exclude: ['Personal'] }, crm });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const personal = await inOutlook(rig, mailbox, { subject: 'Gym', categories: ['personal'] }); // case does not matter, as in Outlook
      const work = await inOutlook(rig, mailbox, { subject: 'Pipeline review', categories: ['Customer visit'] });
      await waitUntil(async () => !!(await recordOf(rig, mailbox, work)), 20_000, 'the work item in the CRM');
      await quiet(rig);
      assert.equal(await recordOf(rig, mailbox, personal), undefined, 'the Personal item has no record');
      assert.ok(!(await rig.user.list()).some((r) => r.title === 'Gym'));
      // verify reads each item's categories and counts the one the policy keeps out as agreeing
      const verifyOptions = { exchange: rig.exchange, crm: rig.crm, mappings: rig.mappings, folders: ['calendar'] as const, windowPastDays: 30, windowFutureDays: 365 };
      const keptFromCrm = (i: { categories?: readonly string[]; private?: boolean }): boolean => verdictOf(i, { private: 'sync', categories: { include: [], exclude: ['Personal'] } }).action === 'hide';
      const verdict = await verifyMailbox({ ...verifyOptions, keptFromCrm }, mailbox);
      assert.deepEqual([verdict.disagreements, verdict.filtered], [[], 1], JSON.stringify(verdict));
      const unaware = await verifyMailbox(verifyOptions, mailbox);
      assert.deepEqual(unaware.disagreements.map((d) => [d.kind, d.itemId]), [['missing', personal]], 'without the policy the item is missing');

      const ref = (await recordOf(rig, mailbox, work))!.ref;
      const recordBefore = (await rig.crm.get(ref))!;
      await editInOutlook(rig, mailbox, work, (a) => (a.Categories = new ews.StringList(['Customer visit', 'Personal'])));
      await waitUntil(async () => !(await rig.crm.get(ref)), 20_000, 'the record gone with the category');
      await quiet(rig);
      assert.equal(await outlookSubject(rig, mailbox, work), 'Pipeline review', 'the item itself stays in the mailbox');
      // a CRM user's edit the feed read just before the record left arrives late: it makes no second item
      const late = await replayLateEdit(rig, mailbox, recordBefore, 'Pipeline review (edited)', 'sync');
      assert.equal(late.outcome, 'unchanged');
      assert.equal(late.itemsAfter, late.itemsBefore, 'no item made from a record the policy took out');

      await editInOutlook(rig, mailbox, work, (a) => (a.Categories = new ews.StringList(['Customer visit'])));
      await waitUntil(async () => !!(await recordOf(rig, mailbox, work)), 20_000, 'a record again without the category');
      assert.equal((await rig.crm.get((await recordOf(rig, mailbox, work))!.ref))!.fields.subject, 'Pipeline review');
    } finally {
      await rig.close();
    }
  });

  for (const crm of ['reference', 'superoffice'] as const) it(`private="skip" (${crm}): an item made private leaves the CRM; a CRM edit read just before its record left makes no second item`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 246, privateItems: 'skip', crm });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const itemId = await inOutlook(rig, mailbox, { subject: 'Dentist' });
      let mapped: { ref: CrmRef } | undefined;
      await waitUntil(async () => !!(mapped = await recordOf(rig, mailbox, itemId)), 20_000, 'a record for the item');
      await quiet(rig);
      const recordBefore = (await rig.crm.get(mapped!.ref))!;
      await editInOutlook(rig, mailbox, itemId, (a) => (a.Sensitivity = ews.Sensitivity.Private));
      await waitUntil(async () => !(await rig.crm.get(mapped!.ref)), 20_000, 'the record gone with the item made private');
      await quiet(rig);
      const late = await replayLateEdit(rig, mailbox, recordBefore, 'Dentist (moved)', 'skip');
      assert.equal(late.outcome, 'unchanged');
      assert.equal(late.itemsAfter, late.itemsBefore, 'no item made from a record that is gone');
    } finally {
      await rig.close();
    }
  });

  for (const crm of ['reference', 'superoffice'] as const) it(`<categories include="Customer visit"> (${crm}): only items with it reach the CRM`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 243, categories: { include: ['Customer visit'], exclude: [] }, crm });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const visit = await inOutlook(rig, mailbox, { subject: 'Visit Fabrikam', categories: ['Customer visit'] });
      const plain = await inOutlook(rig, mailbox, { subject: 'Lunch' });
      await waitUntil(async () => !!(await recordOf(rig, mailbox, visit)), 20_000, 'the visit in the CRM');
      await quiet(rig);
      assert.equal(await recordOf(rig, mailbox, plain), undefined, 'an item without the category has no record');
      await editInOutlook(rig, mailbox, plain, (a) => (a.Categories = new ews.StringList(['Customer visit'])));
      await waitUntil(async () => !!(await recordOf(rig, mailbox, plain)), 20_000, 'a record once it has the category');
    } finally {
      await rig.close();
    }
  });

  for (const exchange of ['EwsStream', 'GraphNotify'] as const) it(`<field> directions (${exchange}): body and reminder to-crm, location, time and categories to-exchange — each travels only its way, and is never overwritten on the other side`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 244, exchange, fields: { body: 'to-crm', reminder: 'to-crm', location: 'to-exchange', time: 'to-exchange', categories: 'to-exchange' }, categoryTypes: [{ outlook: 'Phone', crm: 'Phone call' }] });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const itemId = await inOutlook(rig, mailbox, { subject: 'Kick-off', body: 'Agenda v1', location: 'Room 1' });
      let ref: CrmRef | undefined;
      // (over Graph the mapping holds the Graph id of the item Outlook made over EWS)
      const mappedRef = async (): Promise<CrmRef | undefined> => {
        const { rows } = await rig.db.query<{ item_id: string; crm_id: string }>(`select item_id, crm_id from ${rig.stateSchema}.item_map where mailbox = $1 and not deleted`, [mailbox]);
        return rows.find((r) => (exchange === 'GraphNotify' ? ewsIdOf(r.item_id) : r.item_id) === itemId)?.crm_id as CrmRef | undefined;
      };
      await waitUntil(async () => !!(ref = await mappedRef()), 30_000, 'a record for the item');
      await quiet(rig);
      let record = (await rig.crm.get(ref!))!.fields;
      assert.deepEqual([record.subject, record.body, record.location ?? null, record.start], ['Kick-off', 'Agenda v1', null, '2026-12-11T08:00:00Z'],
        'a new record: the body comes, the location does not, the time does (a record needs one)');

      // Outlook: everything edited; only subject and body reach the CRM
      await editInOutlook(rig, mailbox, itemId, (a) => {
        a.Subject = 'Kick-off (moved)';
        a.Body = new ews.MessageBody(ews.BodyType.Text, 'Agenda v2');
        a.Location = 'Room 2';
        a.Start = new ews.DateTime(Date.parse('2026-12-11T10:00:00Z'));
        a.End = new ews.DateTime(Date.parse('2026-12-11T11:00:00Z'));
        a.IsReminderSet = true;
        a.ReminderMinutesBeforeStart = 30;
        a.Categories = new ews.StringList(['Phone']);
      });
      await waitUntil(async () => (await rig.crm.get(ref!))?.fields.subject === 'Kick-off (moved)', 30_000, 'the Outlook edit in the CRM');
      await quiet(rig);
      record = (await rig.crm.get(ref!))!.fields;
      assert.deepEqual([record.body, record.location ?? null, record.start, record.end, record.reminder], ['Agenda v2', null, '2026-12-11T08:00:00Z', '2026-12-11T09:00:00Z', 30], 'the CRM keeps its location and time, takes the reminder');
      assert.equal(record.crmType, '', 'categories travel to Outlook only: the CRM keeps its type');

      // the CRM: everything edited; subject, location and time reach Outlook, the body does not
      await rig.db.query(`update ${rig.crmSchema}.appointment set title = 'Kick-off (CRM)', description = 'Agenda from the CRM', location = 'Board room',
        start_at = '2026-12-11T13:00:00Z', end_at = '2026-12-11T14:00:00Z', alarm = true, alarm_minutes = 5, activity_type = 'Lunch' where appointment_id = $1`, [Number(ref!.split(':')[1])]);
      await waitUntil(async () => (await outlookSubject(rig, mailbox, itemId)) === 'Kick-off (CRM)', 30_000, 'the CRM edit in Outlook');
      await quiet(rig);
      const a = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId));
      assert.deepEqual([a.Body.Text, a.Location, a.Start.ToISOString(), a.ReminderMinutesBeforeStart], ['Agenda v2', 'Board room', '2026-12-11T13:00:00.000Z', 30], 'Outlook keeps its body and reminder, takes the location and time');
      assert.deepEqual(a.Categories.GetEnumerator(), [], 'the CRM\'s type (one nobody maps) takes the mapped category away');
      // ... and our own write coming back changes nothing in the CRM: its body stays its own
      record = (await rig.crm.get(ref!))!.fields;
      assert.deepEqual([record.subject, record.body, record.location, record.start, record.reminder, record.crmType], ['Kick-off (CRM)', 'Agenda from the CRM', 'Board room', '2026-12-11T13:00:00Z', 5, 'Lunch']);
    } finally {
      await rig.close();
    }
  });

  for (const [crmKind, exchange] of [['reference', 'EwsStream'], ['reference', 'GraphNotify'], ['superoffice', 'EwsStream']] as const) it(`<category outlook crm> (${crmKind}, ${exchange}): an item's mapped category is its record's type, and a record's type its item's category; other categories stay`, { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 245, exchange, crm: crmKind, categoryTypes: [{ outlook: 'Customer visit', crm: 'Customer visit' }, { outlook: 'Phone', crm: 'phone call' }] });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const ewsId = (itemId: string): string => (exchange === 'GraphNotify' ? ewsIdOf(itemId) : itemId);
      const refOf = async (itemId: string): Promise<CrmRef | undefined> => {
        const { rows } = await rig.db.query<{ item_id: string; crm_id: string }>(`select item_id, crm_id from ${rig.stateSchema}.item_map where mailbox = $1 and not deleted`, [mailbox]);
        return rows.find((r) => ewsId(r.item_id) === itemId)?.crm_id as CrmRef | undefined;
      };
      const idOf = (ref: CrmRef): number => Number(ref.split(':')[1]);
      // the CRM's type of a record, and a user setting it: the reference CRM's column; SuperOffice's Task (a user's PATCH)
      const so = rig.superoffice;
      const typeOf = async (ref: CrmRef): Promise<string | null> => so
        ? DEFAULT_TASK_LIST.find((t) => t.id === so.store.appointments.get(idOf(ref))!.taskId)!.value
        : (await rig.db.query<{ activity_type: string | null }>(`select activity_type from ${rig.crmSchema}.appointment where appointment_id = $1`, [idOf(ref)])).rows[0].activity_type;
      const setType = async (ref: CrmRef, type: string): Promise<void> => {
        if (!so) return void (await rig.db.query(`update ${rig.crmSchema}.appointment set activity_type = $2 where appointment_id = $1`, [idOf(ref), type]));
        const r = await soClient(so, 'user0001')('PATCH', `/Appointment/${idOf(ref)}`, [{ op: 'replace', path: '/Task', value: { TaskListItemId: DEFAULT_TASK_LIST.find((t) => t.value === type)!.id } }]);
        assert.equal(r.status, 200, JSON.stringify(r.body));
      };
      const defaultType = so ? 'Meeting' : null;
      const categoriesOf = async (itemId: string): Promise<string[]> => {
        const a = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Categories]));
        return a.Categories?.GetEnumerator() ?? [];
      };
      const visit = await inOutlook(rig, mailbox, { subject: 'At Fabrikam', categories: ['Blue', 'customer visit'] }); // as Outlook: any case
      const plain = await inOutlook(rig, mailbox, { subject: 'Plain' });
      let visitRef: CrmRef | undefined;
      let plainRef: CrmRef | undefined;
      await waitUntil(async () => !!(visitRef = await refOf(visit)) && !!(plainRef = await refOf(plain)), 30_000, 'records for both items');
      await quiet(rig);
      assert.deepEqual([await typeOf(visitRef!), await typeOf(plainRef!)], ['Customer visit', defaultType], 'the mapped category is the type; no category, the CRM\'s default');

      // Outlook: the visit becomes a call, then loses its mapped category
      await editInOutlook(rig, mailbox, visit, (a) => (a.Categories = new ews.StringList(['Blue', 'Phone'])));
      await waitUntil(async () => (await typeOf(visitRef!))?.toLowerCase() === 'phone call', 30_000, 'the new type');
      await editInOutlook(rig, mailbox, visit, (a) => (a.Categories = new ews.StringList(['Blue'])));
      await waitUntil(async () => (await typeOf(visitRef!)) === defaultType, 30_000, 'the CRM\'s default type again');
      await quiet(rig);

      // the CRM: a user gives records types; the items' mapped categories follow, their others stay
      await setType(plainRef!, 'Customer visit');
      await setType(visitRef!, 'Phone call');
      await waitUntil(async () => (await categoriesOf(plain)).join() === 'Customer visit' && (await categoriesOf(visit)).join() === 'Blue,Phone', 30_000, 'the types as categories');
      await setType(visitRef!, 'Lunch'); // a type nobody maps: the mapped category leaves
      await waitUntil(async () => (await categoriesOf(visit)).join() === 'Blue', 30_000, 'the mapped category gone');
      await quiet(rig);
      assert.equal(await typeOf(visitRef!), 'Lunch', 'our own write coming back leaves the CRM\'s type alone');

      // a record made in the CRM with a type: its item has the category
      const made = await rig.user.createAppointment(mailbox, 'Call Contoso', '2026-12-12T09:00:00Z', '2026-12-12T09:30:00Z');
      await setType(made, 'Phone call');
      await waitUntil(async () => {
        const { rows } = await rig.db.query<{ item_id: string }>(`select item_id from ${rig.stateSchema}.item_map where crm_id = $1 and not deleted`, [made]);
        return !!rows[0] && (await categoriesOf(ewsId(rows[0].item_id))).join() === 'Phone';
      }, 30_000, 'the CRM record in the mailbox with its category');
    } finally {
      await rig.close();
    }
  });

  it('<category outlook crm> (reference, GraphNotify): a To Do task\'s mapped category is its CRM task\'s type, and a CRM task\'s type its category; other categories stay', { timeout: 120_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 246, exchange: 'GraphNotify', categoryTypes: [{ outlook: 'Customer visit', crm: 'Customer visit' }, { outlook: 'Phone', crm: 'Phone call' }] });
    try {
      const mailbox = rig.sandbox.store.byIndex(1)!.address;
      const service = ewsService(rig.sandbox.url, mailbox);
      const categoriesOf = async (itemId: string): Promise<string[]> =>
        (await ews.Task.Bind(service, new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Categories]))).Categories?.GetEnumerator() ?? [];
      const mapped = async (): Promise<Array<{ item_id: string; crm_id: string }>> =>
        (await rig.db.query<{ item_id: string; crm_id: string }>(`select item_id, crm_id from ${rig.stateSchema}.item_map where mailbox = $1 and folder = 'tasks' and not deleted`, [mailbox])).rows;
      const typeOf = async (ref: string): Promise<string | null> => (await rig.db.query<{ activity_type: string | null }>(`select activity_type from ${rig.crmSchema}.appointment where appointment_id = $1`, [Number(ref.split(':')[1])])).rows[0].activity_type;
      const setType = (ref: string, type: string): Promise<unknown> => rig.db.query(`update ${rig.crmSchema}.appointment set activity_type = $2 where appointment_id = $1`, [Number(ref.split(':')[1]), type]);

      // a task made in Outlook (To Do shows the mailbox's Tasks folder) with a mapped category and another
      const task = new ews.Task(service);
      task.Subject = 'Call Fabrikam back';
      task.Categories = new ews.StringList(['Blue', 'Phone']);
      await task.Save(ews.WellKnownFolderName.Tasks);
      const outlookTask = task.Id.UniqueId;
      let ref: string | undefined;
      await waitUntil(async () => !!(ref = (await mapped()).find((m) => ewsIdOf(m.item_id) === outlookTask)?.crm_id), 30_000, 'the task\'s record');
      await waitUntil(async () => (await typeOf(ref!)) === 'Phone call', 30_000, 'the mapped category is the CRM task\'s type');

      // the CRM: a user gives it another type; the To Do task's mapped category follows, Blue stays
      await setType(ref!, 'Customer visit');
      await waitUntil(async () => (await categoriesOf(outlookTask)).join() === 'Blue,Customer visit', 30_000, 'the type as the task\'s category');
      // a CRM task made with a type reaches To Do with its category
      const { rows } = await rig.db.query<{ appointment_id: number }>(`insert into ${rig.crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone, activity_type)
        select associate_id, 2, 'Send the offer', '2026-12-14T09:00:00Z', '2026-12-14T09:00:00Z', 'UTC', 'Phone call' from ${rig.crmSchema}.associate where lower(email) = $1 returning appointment_id`, [mailbox]);
      const made = `appointment:${rows[0].appointment_id}`;
      await waitUntil(async () => {
        const m = (await mapped()).find((r) => r.crm_id === made);
        return !!m && (await categoriesOf(ewsIdOf(m.item_id))).join() === 'Phone';
      }, 30_000, 'the CRM task in To Do with its category');
      await quiet(rig);
      assert.equal(await typeOf(ref!), 'Customer visit', 'our own write coming back leaves the CRM\'s type alone');
    } finally {
      await rig.close();
    }
  });
});
