// Both directions at once, through the sandbox and each CRM (the reference CRM on PostgreSQL,
// SuperOffice's Web API on its simulator): conflicts under each policy, a delete against an
// edit, meetings across mailboxes, attendees linked to CRM persons, private items, a create
// cut short, an unseen delete; recurrence (reference CRM; SuperOffice series are not synced yet).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CrmRef } from '../../../src/crm-adapter/index.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { soClient } from '../../helpers/superoffice.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { startTwoWayRig, VARIANTS, type TwoWayRig } from '../../helpers/two-way-rig.js';
import type { ConflictPolicy } from '../../../src/config/index.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A CRM user's new appointment in the first mailbox's diary. */
async function newRecord(rig: TwoWayRig, title: string, options: { private?: boolean } = {}): Promise<CrmRef> {
  return rig.user.createAppointment(rig.sandbox.store.byIndex(1)!.address, title, '2026-12-03T09:00:00Z', '2026-12-03T10:00:00Z', options);
}

const titleOf = async (rig: TwoWayRig, ref: CrmRef): Promise<string | undefined> => (await rig.crm.get(ref))?.fields.subject;

async function editInExchange(rig: TwoWayRig, mailbox: string, itemId: string, subject: string): Promise<void> {
  const service = ewsService(rig.sandbox.url, mailbox);
  const item = await ews.Appointment.Bind(service, new ews.ItemId(itemId));
  item.Subject = subject;
  await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
}

async function deleteInExchange(rig: TwoWayRig, mailbox: string, itemId: string): Promise<void> {
  const service = ewsService(rig.sandbox.url, mailbox);
  await service.DeleteItems([new ews.ItemId(itemId)], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
}

async function exchangeSubject(rig: TwoWayRig, mailbox: string, itemId: string): Promise<string | undefined> {
  try {
    const item = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]));
    return item.Subject;
  } catch {
    return undefined;
  }
}

/** A CRM record synced to its item, both sides quiet. */
async function syncedRecord(rig: TwoWayRig, title: string): Promise<{ ref: CrmRef; mailbox: string; itemId: string }> {
  const ref = await newRecord(rig, title);
  let mapped: { mailbox: string; itemId: string } | undefined;
  await waitUntil(async () => !!(mapped = await rig.itemOf(ref)) && (await rig.drained()), 20_000, `${ref} in the mailbox`);
  await settle(500); // its echo from Exchange is in and recognised
  await waitUntil(() => rig.drained(), 20_000, 'quiet');
  return { ref, ...mapped! };
}

/** Both sides edited while no handler runs: Exchange first, the CRM a second later (or the other way). */
async function conflict(rig: TwoWayRig, target: { ref: CrmRef; mailbox: string; itemId: string }, order: 'exchange-first' | 'crm-first'): Promise<void> {
  await rig.pauseHandlers();
  const exchangeBefore = await rig.published('exchange.changes');
  const crmBefore = await rig.published('crm.changes');
  const editExchange = async (): Promise<void> => {
    await editInExchange(rig, target.mailbox, target.itemId, 'edited in Exchange');
    await waitUntil(async () => (await rig.published('exchange.changes')) > exchangeBefore, 15_000, 'the Exchange edit in the log');
  };
  const editCrm = async (): Promise<void> => {
    await rig.user.rename(target.ref, 'edited in the CRM');
    await waitUntil(async () => (await rig.published('crm.changes')) > crmBefore, 15_000, 'the CRM edit in the log');
  };
  // Exchange keeps modification times to the second: 1.1 s apart, the later one is later
  if (order === 'exchange-first') {
    await editExchange();
    await settle(1_100);
    await editCrm();
  } else {
    await editCrm();
    await settle(1_100);
    await editExchange();
  }
  await rig.resumeHandlers();
  await waitUntil(() => rig.drained(), 20_000, 'both handlers done');
  await settle(800);
  await waitUntil(() => rig.drained(), 20_000, 'both handlers done after the echoes');
}

async function bothSides(rig: TwoWayRig, target: { ref: CrmRef; mailbox: string; itemId: string }): Promise<{ crm: unknown; exchange: unknown }> {
  return { crm: await titleOf(rig, target.ref), exchange: await exchangeSubject(rig, target.mailbox, target.itemId) };
}

for (const { crm: crmKind, exchange: exchangeKind } of VARIANTS) {
  describe(`both directions at once (${crmKind === 'reference' ? 'reference CRM' : 'SuperOffice'}${exchangeKind === 'EwsStream' ? '' : `, ${exchangeKind}`})`, () => {
    const rigOf = (options: Omit<Parameters<typeof startTwoWayRig>[0], 'crm' | 'exchange'>): Promise<TwoWayRig> => startTwoWayRig({ ...options, crm: crmKind, exchange: exchangeKind });

    for (const [policy, order, winner] of [
      ['exchange-wins', 'exchange-first', 'edited in Exchange'],
      ['crm-wins', 'crm-first', 'edited in the CRM'],
      ['last-writer-wins', 'exchange-first', 'edited in the CRM'],
      ['last-writer-wins', 'crm-first', 'edited in Exchange'],
    ] as Array<[ConflictPolicy, 'exchange-first' | 'crm-first', string]>) {
      it(`conflict policy ${policy}, ${order === 'exchange-first' ? 'the CRM edited last' : 'Exchange edited last'}: both sides end as "${winner}", the conflict logged and counted once`, { timeout: 90_000 }, async () => {
        const rig = await rigOf({ mailboxes: 2, seed: 91, conflict: policy });
        try {
          const target = await syncedRecord(rig, 'before the conflict');
          await conflict(rig, target, order);
          assert.deepEqual(await bothSides(rig, target), { crm: winner, exchange: winner });
          assert.equal(rig.conflicts.length, 1, JSON.stringify(rig.conflicts));
          assert.equal(rig.conflicts[0].winner, winner.includes('Exchange') ? 'exchange' : 'crm');
          assert.equal(rig.conflicts[0].policy, policy);
          // quiet afterwards: no ping-pong between the two sides
          const messages = (await rig.published('exchange.changes')) + (await rig.published('crm.changes'));
          await settle(1_500);
          assert.equal((await rig.published('exchange.changes')) + (await rig.published('crm.changes')), messages, 'no further messages once settled');
          if (exchangeKind === 'GraphNotify') {
            // the sync's reads, writes and notifications went through Graph (the users' hands are EWS):
            // the record became an event by POST, its changes were read by delta
            const graphRequests = [...rig.sandbox.graph!.requests.entries()].filter(([, n]) => n > 0).map(([k]) => k).join(', ');
            assert.match(graphRequests, /GET calendarview\/delta/, graphRequests);
            assert.match(graphRequests, /POST events/, graphRequests);
            assert.equal(rig.sandbox.graph!.subscriptions.size, 2, 'one subscription per mailbox');
          }
        } finally {
          await rig.close();
        }
      });
    }

    it('the reminder both ways: set in Outlook it is the record\'s alarm; the CRM\'s alarm taken off and set again is the item\'s reminder', { timeout: 90_000 }, async () => {
      const rig = await startTwoWayRig({ mailboxes: 2, seed: 93, crm: crmKind, exchange: exchangeKind });
      try {
        const ref = await newRecord(rig, 'Reminded');
        let item: { mailbox: string; itemId: string } | undefined;
        await waitUntil(async () => !!(item = await rig.itemOf(ref)), 30_000, 'the record in the mailbox');
        const service = ewsService(rig.sandbox.url, item!.mailbox);
        const reminderInOutlook = async (): Promise<number | null> => {
          const a = await ews.Appointment.Bind(service, new ews.ItemId(item!.itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.IsReminderSet, ews.ItemSchema.ReminderMinutesBeforeStart]));
          return a.IsReminderSet ? a.ReminderMinutesBeforeStart : null;
        };
        const reminderInCrm = async (): Promise<number | null | undefined> => (await rig.crm.get(ref))?.fields.reminder;
        // a CRM user's alarm: the reference CRM's columns, SuperOffice's HasAlarm and AlarmLeadTime (a user's PATCH)
        const setAlarm = async (minutes: number | null): Promise<void> => {
          const id = Number(ref.split(':')[1]);
          if (!rig.superoffice) return void (await rig.db.query(`update ${rig.crmSchema}.appointment set alarm = $2, alarm_minutes = $3 where appointment_id = $1`, [id, minutes !== null, minutes]));
          const r = await soClient(rig.superoffice, 'user0001')('PATCH', `/Appointment/${id}`, [
            { op: 'replace', path: '/HasAlarm', value: minutes !== null }, { op: 'replace', path: '/AlarmLeadTime', value: `00:${String(minutes ?? 0).padStart(2, '0')}:00` }]);
          assert.equal(r.status, 200, JSON.stringify(r.body));
        };

        const a = await ews.Appointment.Bind(service, new ews.ItemId(item!.itemId));
        a.IsReminderSet = true;
        a.ReminderMinutesBeforeStart = 30;
        await a.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
        await waitUntil(async () => (await reminderInCrm()) === 30, 30_000, 'Outlook\'s reminder as the record\'s alarm');
        await setAlarm(null);
        await waitUntil(async () => (await reminderInOutlook()) === null, 30_000, 'the alarm taken off in the CRM: no reminder in Outlook');
        await setAlarm(10);
        await waitUntil(async () => (await reminderInOutlook()) === 10, 30_000, 'the CRM\'s alarm as the item\'s reminder');
        assert.equal(await reminderInCrm(), 10);
      } finally {
        await rig.close();
      }
    });

    it('a delete on one side wins over an edit on the other, both ways', { timeout: 90_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 92, conflict: 'crm-wins' });
      try {
        // deleted in Exchange, edited in the CRM meanwhile
        const a = await syncedRecord(rig, 'deleted in Exchange');
        await rig.pauseHandlers();
        await deleteInExchange(rig, a.mailbox, a.itemId);
        await rig.user.rename(a.ref, 'edited');
        await settle(1_000);
        // deleted in the CRM, edited in Exchange meanwhile
        const b = await (async () => {
          await rig.resumeHandlers();
          await waitUntil(() => rig.drained(), 20_000, 'drained');
          return syncedRecord(rig, 'deleted in the CRM');
        })();
        await rig.pauseHandlers();
        await rig.user.delete(b.ref);
        await editInExchange(rig, b.mailbox, b.itemId, 'edited');
        await settle(1_000);
        await rig.resumeHandlers();
        await waitUntil(() => rig.drained(), 20_000, 'drained');
        await settle(1_000);
        await waitUntil(() => rig.drained(), 20_000, 'drained after echoes');
        assert.equal(await rig.crm.get(a.ref), undefined, 'the record of the item deleted in Exchange is gone');
        assert.equal(await exchangeSubject(rig, a.mailbox, a.itemId), undefined, 'the item deleted in Exchange did not come back');
        assert.equal(await rig.crm.get(b.ref), undefined, 'the record deleted in the CRM did not come back');
        assert.equal(await exchangeSubject(rig, b.mailbox, b.itemId), undefined, 'the item of the record deleted in the CRM is gone');
        const subjects = rig.sandbox.store.all().flatMap((m) => rig.sandbox.store.itemsIn(m, 'calendar').map((i) => String(i.props.Subject)));
        assert.ok(!subjects.some((t) => ['edited', 'deleted in Exchange', 'deleted in the CRM'].includes(t)), 'no item was created again');
        const live = await rig.db.query<{ crm_id: string }>(`select crm_id from ${rig.stateSchema}.item_map where not deleted`);
        for (const { crm_id } of live.rows) assert.ok(!['edited', 'deleted in Exchange', 'deleted in the CRM'].includes((await titleOf(rig, crm_id)) ?? ''), 'no record was created again');
      } finally {
        await rig.close();
      }
    });

    it('a meeting in two synced mailboxes becomes one record per associate joined to a mother; an attendee who is a CRM person links them', { timeout: 90_000 }, async () => {
      const rig = await rigOf({ mailboxes: 3, seed: 93 });
      try {
        const [, organizer, attendee] = rig.sandbox.store.all().map((m) => m.address);
        const person = await rig.user.addPerson('Anna.Kunde@customer.test', 'Customer Ltd');
        // the new person is a change of its own (a contact): in the log before counting
        let crmBefore = -1;
        await waitUntil(async () => {
          await settle(600);
          const now = await rig.published('crm.changes');
          const stable = now === crmBefore;
          crmBefore = now;
          return stable && now > 0;
        }, 20_000, 'the person in the log');
        const uid = 'meeting-7f3c2a@contoso.test';
        for (const mailbox of [organizer, attendee]) {
          const item = new ews.Appointment(ewsService(rig.sandbox.url, mailbox));
          item.Subject = 'Quarterly review';
          item.Start = new ews.DateTime(Date.parse('2026-12-08T13:00:00Z'));
          item.End = new ews.DateTime(Date.parse('2026-12-08T14:00:00Z'));
          item.ICalUid = uid;
          item.RequiredAttendees.Add(attendee);
          item.RequiredAttendees.Add('anna.kunde@customer.test');
          await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
        }
        const records = async (): Promise<Array<{ ref: string; owner: string; mother: unknown; person: unknown; contact: unknown }>> => {
          const { rows } = await rig.db.query<{ crm_id: string }>(`select crm_id from ${rig.stateSchema}.item_map where ical_uid = $1 and not deleted order by created`, [uid]);
          const out = [];
          for (const r of rows) {
            const a = await rig.crm.get(r.crm_id);
            if (a) out.push({ ref: a.ref, owner: a.owner, mother: a.fields.motherRef, person: a.fields.personRef, contact: a.fields.contactRef });
          }
          return out;
        };
        let found: Awaited<ReturnType<typeof records>> = [];
        await waitUntil(async () => (found = await records()).length === 2 && found.every((r) => r.mother) && (await rig.drained()), 20_000, 'two records of the meeting, joined')
          .catch((err: Error) => {
            throw new Error(`${err.message}: ${JSON.stringify(found)}`);
          });
        await settle(1_000);
        found = await records();
        assert.equal(found.length, 2, 'one record per attending associate, no duplicate');
        assert.notEqual(found[0].owner, found[1].owner);
        assert.deepEqual(found.map((r) => r.mother), [found[0].ref, found[0].ref], 'both point at the first as their mother');
        assert.deepEqual(found.map((r) => [r.person, r.contact]), [[person.personRef, person.contactRef], [person.personRef, person.contactRef]]);
        // joining the first record to the meeting was the sync's own write: nothing went back to Exchange
        assert.equal(await rig.published('crm.changes'), crmBefore);
      } finally {
        await rig.close();
      }
    });

    it('private items with private="skip": neither side sends them; made private later, the other side\'s copy goes', { timeout: 90_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 95, privateItems: 'skip' });
      try {
        const mailbox = rig.sandbox.store.byIndex(1)!.address;
        const service = ewsService(rig.sandbox.url, mailbox);
        const secret = new ews.Appointment(service);
        secret.Subject = 'Doctor';
        secret.Sensitivity = ews.Sensitivity.Private;
        secret.Start = new ews.DateTime(Date.parse('2026-12-11T08:00:00Z'));
        secret.End = new ews.DateTime(Date.parse('2026-12-11T09:00:00Z'));
        await secret.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
        const privateRecord = await newRecord(rig, 'Private in the CRM', { private: true });
        const shared = await syncedRecord(rig, 'Shared at first');
        await settle(1_000);
        await waitUntil(() => rig.drained(), 20_000, 'quiet');
        const { rows } = await rig.db.query<{ n: number }>(`select count(*)::int as n from ${rig.stateSchema}.item_map where mailbox = $1 and not deleted`, [mailbox]);
        assert.equal(rows[0].n, 1, 'only the shared item is mapped: the private Exchange item has no record');
        assert.equal(await rig.itemOf(privateRecord), undefined, 'the private record has no item');
        const subjects = rig.sandbox.store.itemsIn(rig.sandbox.store.byEmail(mailbox)!, 'calendar').map((i) => String(i.props.Subject));
        assert.ok(!subjects.includes('Private in the CRM'));
        // made private in the CRM: the mailbox copy goes
        await rig.user.setPrivate(shared.ref, true);
        await waitUntil(async () => (await exchangeSubject(rig, shared.mailbox, shared.itemId)) === undefined, 20_000, 'the item gone');
        // and public again: it comes back
        await rig.user.setPrivate(shared.ref, false);
        await waitUntil(async () => !!(await rig.itemOf(shared.ref)), 20_000, 'the item back');
      } finally {
        await rig.close();
      }
    });

    it('a create cut short after CreateItem (the process died before the mapping was saved) is finished, not done twice', { timeout: 60_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 96 });
      try {
        await rig.pauseHandlers();
        const ref = await newRecord(rig, 'Created once');
        const mailbox = rig.sandbox.store.byIndex(1)!;
        // what the interrupted attempt left: its note, and the stamped item in the mailbox
        await rig.db.query(`insert into ${rig.stateSchema}.create_note (side, key, mailbox) values ('exchange', $1, $2)`, [ref, mailbox.address]);
        await rig.exchange.createItem(mailbox.address, 'calendar', { subject: 'Created once (half written)', start: '2026-12-03T09:00:00Z', end: '2026-12-03T10:00:00Z' }, ref);
        await rig.resumeHandlers();
        await waitUntil(async () => !!(await rig.itemOf(ref)) && (await rig.drained()), 20_000, 'the record mapped');
        await settle(1_000);
        const stamped = rig.sandbox.store.itemsIn(mailbox, 'calendar').filter((i) => [...i.extended.values()].some((v) => v.value === ref));
        assert.equal(stamped.length, 1, 'one item for the record');
        // whichever direction reached the item first (the to-crm handler may link the stamped item
        // to its record before the to-exchange handler adopts it), both sides end the same
        assert.equal(stamped[0].props.Subject, await titleOf(rig, ref), 'the item and the record agree');
        assert.equal((await rig.db.query(`select 1 from ${rig.stateSchema}.create_note where key = $1`, [ref])).rows.length, 0, 'the note is gone once the mapping is saved');
      } finally {
        await rig.close();
      }
    });

    it('an item the sync created and a user deleted before any sync saw it: its record is deleted by the check of unconfirmed items', { timeout: 60_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 97 });
      try {
        const target = await syncedRecord(rig, 'Deleted unseen');
        await rig.pauseHandlers();
        await deleteInExchange(rig, target.mailbox, target.itemId);
        // as if no sync had listed the item before the delete: never confirmed, and old enough
        await rig.db.query(`update ${rig.stateSchema}.item_map set log_partition = -1, log_offset = -1, updated = now() - interval '1 minute' where crm_id = $1`, [target.ref]);
        const { UnconfirmedItems } = await import('../../../src/handlers/index.js');
        const { silentLogger } = await import('../../../src/shared/logger.js');
        const check = new UnconfirmedItems({ crm: rig.crm, mappings: rig.mappings, exchange: rig.exchange, logger: silentLogger(), minAgeMs: 10_000, intervalMs: 60_000 });
        const another = await newRecord(rig, 'Not created yet'); // no mapping: not checked
        assert.equal(await check.checkOnce(), 1);
        assert.equal(await rig.crm.get(target.ref), undefined, 'the record is gone');
        assert.ok(await rig.crm.get(another));
        assert.equal(await check.checkOnce(), 0, 'nothing left to check');
        await rig.resumeHandlers();
        await waitUntil(() => rig.drained(), 20_000, 'drained');
        assert.equal(await rig.crm.get(target.ref), undefined, 'the delete event afterwards changes nothing');
      } finally {
        await rig.close();
      }
    });

    it('recurrence both ways: rules, deleted and modified occurrences, exceptions edited and deleted in the CRM, time zones and all-day kept', { timeout: 120_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 94 });
      try {
        const mailbox = rig.sandbox.store.byIndex(1)!.address;
        const rules: Array<[string, string[]]> = [
          ['FREQ=WEEKLY;BYDAY=MO;COUNT=5', ['2026-12-14T08:00:00Z']],
          ['FREQ=DAILY;INTERVAL=2;UNTIL=20261220', []],
          ['FREQ=MONTHLY;BYDAY=2TU;COUNT=6', []],
          ['FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=7;COUNT=3', []],
        ];
        const refs: CrmRef[] = [];
        for (const [rule, exdates] of rules) refs.push(await rig.user.createSeries(mailbox, `Series ${rule.slice(5, 12)}`, '2026-12-07T08:00:00Z', '2026-12-07T09:00:00Z', rule, exdates));
        await waitUntil(async () => (await Promise.all(refs.map((r) => rig.itemOf(r)))).every(Boolean) && (await rig.drained()), 20_000, 'the series in the mailbox');
        await settle(1_000);
        await waitUntil(() => rig.drained(), 20_000, 'quiet');
        const service = ewsService(rig.sandbox.url, mailbox);
        const props = new ews.PropertySet(ews.BasePropertySet.FirstClassProperties, [ews.AppointmentSchema.Recurrence, ews.AppointmentSchema.DeletedOccurrences, ews.AppointmentSchema.ModifiedOccurrences, ews.AppointmentSchema.StartTimeZone]);
        const { patternOf } = await import('../../../src/ews/normalise-item.js');
        const { toRrule } = await import('../../../src/shared/rrule.js');
        for (const [i, ref] of refs.entries()) {
          const item = await ews.Appointment.Bind(service, new ews.ItemId((await rig.itemOf(ref))!.itemId), props);
          assert.equal(toRrule(patternOf(item.Recurrence)!), rules[i][0], 'the rule arrived as the same EWS pattern');
          assert.equal(item.StartTimeZone.Id, 'W. Europe Standard Time');
          // the item coming back changed nothing in the CRM
          const record = (await rig.crm.get(ref))!;
          assert.equal(record.fields.recurrence?.rrule, rules[i][0]);
          assert.deepEqual(record.fields.recurrence?.exdates, rules[i][1]);
          assert.equal(record.fields.timeZone, 'Europe/Berlin');
        }
        const weekly = (await rig.itemOf(refs[0]))!;
        let master = await ews.Appointment.Bind(service, new ews.ItemId(weekly.itemId), props);
        assert.deepEqual(Array.from({ length: master.DeletedOccurrences.Count }, (_, k) => master.DeletedOccurrences._getItem(k).OriginalStart.TotalMilliSeconds), [Date.parse('2026-12-14T08:00:00Z')], 'the EXDATE is a deleted occurrence');

        // a user moves the 21 December occurrence in Outlook → an exception record in the CRM
        const occurrence = await ews.Appointment.BindToOccurrence(service, new ews.ItemId(weekly.itemId), 3);
        assert.equal(occurrence.Start.TotalMilliSeconds, Date.parse('2026-12-21T08:00:00Z'));
        occurrence.Start = new ews.DateTime(Date.parse('2026-12-21T10:00:00Z'));
        occurrence.End = new ews.DateTime(Date.parse('2026-12-21T11:00:00Z'));
        await occurrence.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
        const exceptions = (): ReturnType<typeof rig.crm.exceptions> => rig.crm.exceptions(refs[0]);
        await waitUntil(async () => (await exceptions()).size === 1 && (await rig.drained()), 20_000, 'the exception record');
        const [[originalStart, exception]] = [...(await exceptions())];
        assert.equal(originalStart, '2026-12-21T08:00:00Z');
        assert.equal(exception.fields.start, '2026-12-21T10:00:00Z');
        assert.equal(exception.owner, (await rig.crm.get(refs[0]))!.owner);

        // the CRM user renames and moves that exception → the occurrence in Exchange follows
        await rig.user.move(exception.ref, 'Moved again', 2 * 3_600_000);
        await waitUntil(async () => {
          const o = await ews.Appointment.BindToOccurrence(service, new ews.ItemId(weekly.itemId), 3);
          return o.Subject === 'Moved again' && o.Start.TotalMilliSeconds === Date.parse('2026-12-21T12:00:00Z');
        }, 20_000, 'the occurrence changed in Exchange');
        await waitUntil(() => rig.drained(), 20_000, 'quiet');
        await settle(1_000);
        assert.equal((await exceptions()).size, 1, 'still one exception record');
        assert.equal([...(await exceptions()).values()][0].fields.subject, 'Moved again');

        // an Outlook user renames that occurrence and gives it a room → the exception record follows
        const renamed = await ews.Appointment.BindToOccurrence(service, new ews.ItemId(weekly.itemId), 3);
        renamed.Subject = 'Renamed in Outlook';
        renamed.Location = 'Room 4';
        await renamed.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
        await waitUntil(async () => {
          const [record] = (await exceptions()).values();
          return record?.fields.subject === 'Renamed in Outlook' && record.fields.location === 'Room 4' && (await rig.drained());
        }, 20_000, 'the rename in the exception record');
        assert.equal((await exceptions()).size, 1, 'still one exception record');
        assert.equal([...(await exceptions()).values()][0].fields.start, '2026-12-21T12:00:00Z', 'its time kept');

        // the CRM user deletes the exception → the occurrence is deleted, the series gets the EXDATE
        await rig.user.delete(exception.ref);
        await waitUntil(async () => (await rig.crm.get(refs[0]))!.fields.recurrence!.exdates.includes('2026-12-21T08:00:00Z') && (await rig.drained()), 20_000, 'the EXDATE in the series');
        await waitUntil(async () => (master = await ews.Appointment.Bind(service, new ews.ItemId(weekly.itemId), props)).DeletedOccurrences?.Count === 2, 20_000, 'the occurrence deleted in Exchange');
        assert.equal(master.ModifiedOccurrences?.Count ?? 0, 0);
        assert.equal((await exceptions()).size, 0);

        // made in Exchange: a Tokyo appointment and an all-day event keep their zone and day
        for (const [subject, zone, allDay] of [['Tokyo call', 'Tokyo Standard Time', false], ['Offsite', 'W. Europe Standard Time', true]] as const) {
          const item = new ews.Appointment(service);
          item.Subject = subject;
          item.StartTimeZone = ews.TimeZoneInfo.FindSystemTimeZoneById(zone);
          item.Start = new ews.DateTime(Date.parse(allDay ? '2026-12-09T23:00:00Z' : '2026-12-10T01:00:00Z'));
          item.End = new ews.DateTime(Date.parse(allDay ? '2026-12-10T23:00:00Z' : '2026-12-10T02:00:00Z'));
          item.IsAllDayEvent = allDay;
          await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
        }
        const zoned = async (): Promise<Array<[string, string | undefined, boolean | undefined, string | undefined]>> => {
          const out: Array<[string, string | undefined, boolean | undefined, string | undefined]> = [];
          for (const r of (await rig.user.list()).filter((x) => x.title === 'Tokyo call' || x.title === 'Offsite').sort((a, b) => a.title.localeCompare(b.title))) {
            const a = (await rig.crm.get(r.ref))!;
            out.push([r.title, a.fields.timeZone, a.fields.allDay, a.fields.start]);
          }
          return out;
        };
        await waitUntil(async () => (await zoned()).length === 2, 20_000, 'the two records');
        assert.deepEqual(await zoned(), [
          ['Offsite', 'Europe/Berlin', true, '2026-12-09T23:00:00Z'],
          ['Tokyo call', 'Asia/Tokyo', false, '2026-12-10T01:00:00Z'],
        ]);
      } finally {
        await rig.close();
      }
    });

    // Exchange discards the deleted occurrences a series' new times orphan, and the reference CRM's
    // EXDATE follows; SuperOffice has no row for a deleted occurrence, so it stays deleted, moved
    // with the series — and Exchange is told so. Either way both sides end alike.
    it(`a series moved in the CRM: ${crmKind === 'reference' ? 'Exchange discards the deleted occurrences its new times orphan, and the series\' EXDATE goes too' : 'the deleted occurrence moves with it, on both sides'}`, { timeout: 60_000 }, async () => {
      const rig = await rigOf({ mailboxes: 2, seed: 99 });
      try {
        const mailbox = rig.sandbox.store.byIndex(1)!.address;
        const ref = await rig.user.createSeries(mailbox, 'Weekly sync', '2026-12-07T08:00:00Z', '2026-12-07T09:00:00Z', 'FREQ=WEEKLY;BYDAY=MO;COUNT=4', ['2026-12-14T08:00:00Z']);
        await waitUntil(async () => !!(await rig.itemOf(ref)) && (await rig.drained()), 20_000, 'the series in the mailbox');
        await settle(800);
        const { itemId } = (await rig.itemOf(ref))!;
        await rig.user.moveSeries(ref, 3_600_000);
        const exdates = crmKind === 'reference' ? [] : ['2026-12-14T09:00:00Z'];
        const deleted = async (): Promise<number[]> => {
          const item = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.AppointmentSchema.DeletedOccurrences]));
          return Array.from({ length: item.DeletedOccurrences?.Count ?? 0 }, (_, k) => item.DeletedOccurrences._getItem(k).OriginalStart.TotalMilliSeconds);
        };
        await waitUntil(async () => JSON.stringify((await rig.crm.get(ref))!.fields.recurrence!.exdates) === JSON.stringify(exdates) && JSON.stringify(await deleted()) === JSON.stringify(exdates.map((d) => Date.parse(d)))
          && (await rig.drained()), 20_000, 'the deleted occurrences alike on both sides');
        const series = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.AppointmentSchema.Start]));
        assert.equal(series.Start.TotalMilliSeconds, Date.parse('2026-12-07T09:00:00Z'));
        assert.equal((await rig.crm.get(ref))!.fields.start, '2026-12-07T09:00:00Z');
        // the series' new version is known: the next CRM edit is an edit, not a conflict
        await rig.user.rename(ref, 'Weekly sync (renamed)');
        await waitUntil(async () => (await exchangeSubject(rig, mailbox, itemId)) === 'Weekly sync (renamed)', 20_000, 'the rename in Exchange');
        assert.deepEqual(rig.conflicts, []);
      } finally {
        await rig.close();
      }
    });
  });
}

// ── the reference CRM only: recurrence (RRULE, EXDATE, exception rows) ──

async function insertRow(rig: TwoWayRig, associateId: number, title: string, extra: Record<string, unknown> = {}): Promise<number> {
  const columns = { associate_id: associateId, type: 1, title, start_at: '2026-12-03T09:00:00Z', end_at: '2026-12-03T10:00:00Z', time_zone: 'Europe/Berlin', ...extra };
  const names = Object.keys(columns);
  const { rows } = await rig.db.query<{ appointment_id: number }>(
    `insert into ${rig.crmSchema}.appointment (${names.join(', ')}) values (${names.map((_, i) => `$${i + 1}`).join(', ')}) returning appointment_id`, Object.values(columns),
  );
  return rows[0].appointment_id;
}

const itemOf = (rig: TwoWayRig, id: number): Promise<{ mailbox: string; itemId: string } | undefined> => rig.itemOf(`appointment:${id}`);

describe('a series EWS cannot express (reference CRM: SuperOffice has no such pattern)', () => {
  const startTwoWayRigReference = (options: Omit<Parameters<typeof startTwoWayRig>[0], 'crm'>): Promise<TwoWayRig> => startTwoWayRig({ ...options, crm: 'reference' });
  it('a CRM series whose rule EWS cannot express is parked in the dead-letter topic, not written as a single appointment', { timeout: 60_000 }, async () => {
    const rig = await startTwoWayRigReference({ mailboxes: 2, seed: 98 });
    try {
      const id = await insertRow(rig, 1, 'Every hour', { recurrence_rule: 'RRULE:FREQ=HOURLY;COUNT=3' });
      const fine = await insertRow(rig, 1, 'After it');
      await waitUntil(async () => !!(await itemOf(rig, fine)) && (await rig.drained()), 20_000, 'the next row written');
      assert.equal(await itemOf(rig, id), undefined, 'no item for the hourly series');
      const parked = await rig.transport.browse('crm.changes.dlq', 10);
      assert.equal(parked.length, 1);
      assert.equal(parked[0].headers['ecs-error-code'], 'EWS_ErrorUnsupportedRecurrence');
      assert.match(String(parked[0].headers['ecs-error-message']), /FREQ=HOURLY/);
    } finally {
      await rig.close();
    }
  });

});
