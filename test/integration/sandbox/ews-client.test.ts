import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { ews, ewsService } from '../../helpers/ews.js';

// ews-javascript-api — an EWS client we did not write — drives every operation of the sandbox.
describe('EWS sandbox driven by ews-javascript-api', () => {
  let sandbox: Sandbox;
  let service: ews.ExchangeService;
  const crmId = new ews.ExtendedPropertyDefinition(new ews.Guid('c11ff724-aa03-4555-9952-8fa248a11c3e'), 'CrmId', ews.MapiPropertyType.String);
  const at = (iso: string): ews.DateTime => new ews.DateTime(Date.parse(iso));

  before(async () => {
    sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 3, seed: 7, limits: { heartbeatMs: 200 } });
    service = ewsService(sandbox.url, 'user0001@contoso.test');
  });
  after(async () => {
    await sandbox.close();
  });

  it('GetFolder by distinguished id, FindFolder, CreateFolder', async () => {
    const calendar = await ews.Folder.Bind(service, ews.WellKnownFolderName.Calendar);
    assert.equal(calendar.DisplayName, 'Calendar');
    assert.equal(calendar.TotalCount, sandbox.store.itemsIn(sandbox.store.byIndex(1)!, 'calendar').length);
    const created = new ews.Folder(service);
    created.DisplayName = 'CRM appointments';
    created.FolderClass = 'IPF.Appointment';
    await created.Save(ews.WellKnownFolderName.MsgFolderRoot);
    const found = await service.FindFolders(ews.WellKnownFolderName.MsgFolderRoot, new ews.FolderView(50));
    const names = found.Folders.map((f) => f.DisplayName);
    for (const n of ['Inbox', 'Calendar', 'Tasks', 'Contacts', 'Deleted Items', 'CRM appointments']) assert.ok(names.includes(n), `FindFolder lacks ${n}: ${names}`);
    const again = await ews.Folder.Bind(service, created.Id);
    assert.equal(again.DisplayName, 'CRM appointments');
    await assert.rejects(() => { const dup = new ews.Folder(service); dup.DisplayName = 'CRM appointments'; return dup.Save(ews.WellKnownFolderName.MsgFolderRoot); },
      (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorFolderExists');
  });

  it('CreateItem / GetItem (batched, AdditionalProperties, extended property) / UpdateItem / DeleteItem for appointments', async () => {
    // ews-javascript-api writes text values unescaped: a raw "&" makes malformed XML, which
    // the sandbox refuses as Exchange does; escaped text round-trips.
    const raw = new ews.Appointment(service);
    raw.Subject = 'Fish & chips';
    raw.Start = at('2026-12-01T09:00:00Z');
    raw.End = at('2026-12-01T10:00:00Z');
    await assert.rejects(() => raw.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone), /schema validation/);
    const a = new ews.Appointment(service);
    a.Subject = 'Kick-off &lt;with&gt; "quotes" &amp; ampersand';
    a.Start = at('2026-12-01T09:00:00Z');
    a.End = at('2026-12-01T10:30:00Z');
    a.Location = 'Room 101';
    a.SetExtendedProperty(crmId, 'appointment:42');
    await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
    const b = new ews.Appointment(service);
    b.Subject = 'Second';
    b.Start = at('2026-12-02T09:00:00Z');
    b.End = at('2026-12-02T09:30:00Z');
    await b.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);

    const props = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject, ews.AppointmentSchema.Start, ews.AppointmentSchema.End, ews.AppointmentSchema.Location, crmId]);
    const batch = await service.BindToItems([a.Id, b.Id, new ews.ItemId(itemIdOf(1, 99999))], props);
    assert.equal(batch.Responses.length, 3);
    const first = batch.Responses[0].Item as ews.Appointment;
    assert.equal(first.Subject, 'Kick-off <with> "quotes" & ampersand');
    assert.equal(first.Location, 'Room 101');
    assert.equal(first.Start.ToISOString(), '2026-12-01T09:00:00.000Z');
    assert.equal(first.ExtendedProperties.Count, 1);
    assert.equal(first.ExtendedProperties._getItem(0).Value, 'appointment:42');
    assert.equal((batch.Responses[1].Item as ews.Appointment).Subject, 'Second');
    assert.equal(ews.ServiceError[batch.Responses[2].ErrorCode], 'ErrorItemNotFound');

    const changeKeyBefore = first.Id.ChangeKey;
    first.Subject = 'Kick-off (moved)';
    first.Start = at('2026-12-01T11:00:00Z');
    first.End = at('2026-12-01T12:00:00Z');
    await first.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    const reread = await ews.Appointment.Bind(service, a.Id, new ews.PropertySet(ews.BasePropertySet.FirstClassProperties));
    assert.equal(reread.Subject, 'Kick-off (moved)');
    assert.equal(reread.Start.ToISOString(), '2026-12-01T11:00:00.000Z');
    assert.equal(reread.Id.UniqueId, a.Id.UniqueId, 'ItemId is stable');
    assert.notEqual(reread.Id.ChangeKey, changeKeyBefore, 'ChangeKey changes on every change');

    // a stale ChangeKey with NeverOverwrite is refused
    const stale = await ews.Appointment.Bind(service, a.Id);
    reread.Location = 'elsewhere';
    await reread.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    stale.Subject = 'lost update';
    await assert.rejects(
      () => stale.Update(ews.ConflictResolutionMode.NeverOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone),
      (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorIrresolvableConflict',
    );

    await b.Delete(ews.DeleteMode.HardDelete, ews.SendCancellationsMode.SendToNone);
    await assert.rejects(() => ews.Appointment.Bind(service, b.Id), (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorItemNotFound');
  });

  it('tasks and contacts: create, read, update, delete', async () => {
    const task = new ews.Task(service);
    task.Subject = 'Call back ACME';
    task.DueDate = at('2026-12-05T00:00:00Z');
    await task.Save(ews.WellKnownFolderName.Tasks);
    const gotTask = await ews.Task.Bind(service, task.Id);
    assert.equal(gotTask.Subject, 'Call back ACME');
    assert.equal(gotTask.Status, ews.TaskStatus.NotStarted);
    gotTask.Status = ews.TaskStatus.Completed;
    await gotTask.Update(ews.ConflictResolutionMode.AutoResolve);
    assert.equal((await ews.Task.Bind(service, task.Id)).IsComplete, true);

    const contact = new ews.Contact(service);
    contact.GivenName = 'Ada';
    contact.Surname = 'Lovelace';
    contact.CompanyName = 'Analytical Engines Ltd';
    contact.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress1, new ews.EmailAddress('ada@engines.test'));
    await contact.Save(ews.WellKnownFolderName.Contacts);
    const gotContact = await ews.Contact.Bind(service, contact.Id);
    assert.equal(gotContact.GivenName, 'Ada');
    assert.equal(gotContact.EmailAddresses._getItem(ews.EmailAddressKey.EmailAddress1).Address, 'ada@engines.test');
    gotContact.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress2, new ews.EmailAddress('ada@home.test'));
    await gotContact.Update(ews.ConflictResolutionMode.AlwaysOverwrite);
    const both = await ews.Contact.Bind(service, contact.Id);
    assert.equal(both.EmailAddresses._getItem(ews.EmailAddressKey.EmailAddress1).Address, 'ada@engines.test');
    assert.equal(both.EmailAddresses._getItem(ews.EmailAddressKey.EmailAddress2).Address, 'ada@home.test');
    await both.Delete(ews.DeleteMode.SoftDelete);
    await gotTask.Delete(ews.DeleteMode.MoveToDeletedItems);
  });

  it('recurrence: weekly series expanded in a CalendarView, occurrences modified and deleted', async () => {
    const series = new ews.Appointment(service);
    series.Subject = 'Weekly sync';
    series.Start = at('2026-03-02T08:00:00Z'); // Monday 09:00 in Berlin (CET)
    series.End = at('2026-03-02T08:30:00Z');
    series.StartTimeZone = ews.TimeZoneInfo.FindSystemTimeZoneById('W. Europe Standard Time');
    // the library's typings declare only the no-argument constructor
    const Weekly = ews.Recurrence.WeeklyPattern as unknown as new (start: ews.DateTime, interval: number, days: ews.DayOfTheWeek[]) => InstanceType<typeof ews.Recurrence.WeeklyPattern>;
    series.Recurrence = new Weekly(at('2026-03-02T00:00:00Z'), 1, [ews.DayOfTheWeek.Monday]);
    series.Recurrence.NumberOfOccurrences = 6;
    await series.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);

    const view = await service.FindAppointments(ews.WellKnownFolderName.Calendar, new ews.CalendarView(at('2026-03-01T00:00:00Z'), at('2026-04-15T00:00:00Z')));
    const occurrences = view.Items.filter((i) => i.Subject === 'Weekly sync');
    assert.equal(occurrences.length, 6);
    // 09:00 Berlin before and after the DST change of 29 March: 08:00Z, then 07:00Z
    assert.deepEqual(occurrences.map((o) => o.Start.ToISOString().slice(0, 16)), [
      '2026-03-02T08:00', '2026-03-09T08:00', '2026-03-16T08:00', '2026-03-23T08:00', '2026-03-30T07:00', '2026-04-06T07:00',
    ]);
    assert.ok(occurrences.every((o) => o.AppointmentType === ews.AppointmentType.Occurrence));

    const third = await ews.Appointment.BindToOccurrence(service, series.Id, 3);
    third.Subject = 'Weekly sync (moved)';
    third.Start = at('2026-03-17T10:00:00Z');
    third.End = at('2026-03-17T10:30:00Z');
    await third.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    const fifth = await ews.Appointment.BindToOccurrence(service, series.Id, 5);
    await fifth.Delete(ews.DeleteMode.HardDelete, ews.SendCancellationsMode.SendToNone);

    const master = await ews.Appointment.Bind(service, series.Id, new ews.PropertySet(ews.BasePropertySet.FirstClassProperties, [
      ews.AppointmentSchema.Recurrence, ews.AppointmentSchema.ModifiedOccurrences, ews.AppointmentSchema.DeletedOccurrences,
      ews.AppointmentSchema.FirstOccurrence, ews.AppointmentSchema.LastOccurrence,
    ]));
    assert.equal(master.AppointmentType, ews.AppointmentType.RecurringMaster);
    assert.ok(master.Recurrence instanceof ews.Recurrence.WeeklyPattern);
    assert.equal(master.Recurrence.NumberOfOccurrences, 6);
    assert.equal(master.ModifiedOccurrences.Count, 1);
    assert.equal(master.ModifiedOccurrences._getItem(0).Start.ToISOString(), '2026-03-17T10:00:00.000Z');
    assert.equal(master.DeletedOccurrences.Count, 1);
    assert.equal(master.DeletedOccurrences._getItem(0).OriginalStart.ToISOString(), '2026-03-30T07:00:00.000Z');
    assert.equal(master.FirstOccurrence.Start.ToISOString(), '2026-03-02T08:00:00.000Z');
    assert.equal(master.LastOccurrence.Start.ToISOString(), '2026-04-06T07:00:00.000Z');

    const after2 = await service.FindAppointments(ews.WellKnownFolderName.Calendar, new ews.CalendarView(at('2026-03-01T00:00:00Z'), at('2026-04-15T00:00:00Z')));
    const remaining = after2.Items.filter((i) => i.Subject?.startsWith('Weekly sync'));
    assert.equal(remaining.length, 5);
    assert.equal(remaining.filter((o) => o.AppointmentType === ews.AppointmentType.Exception).length, 1);
  });

  it('FindItem with IndexedPageItemView, a restriction and paging', async () => {
    const mine = ewsService(sandbox.url, 'user0002@contoso.test');
    for (let i = 0; i < 5; i++) {
      const t = new ews.Task(mine);
      t.Subject = `Paged task ${i}`;
      await t.Save(ews.WellKnownFolderName.Tasks);
    }
    const filter = new ews.SearchFilter.ContainsSubstring(ews.ItemSchema.Subject, 'Paged task');
    const page1 = await mine.FindItems(ews.WellKnownFolderName.Tasks, filter, new ews.ItemView(3));
    assert.equal(page1.Items.length, 3);
    assert.equal(page1.TotalCount, 5);
    assert.equal(page1.MoreAvailable, true);
    const page2 = await mine.FindItems(ews.WellKnownFolderName.Tasks, filter, new ews.ItemView(3, page1.NextPageOffset!));
    assert.equal(page2.Items.length, 2);
    assert.equal(page2.MoreAvailable, false);
    const exact = await mine.FindItems(ews.WellKnownFolderName.Tasks, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, 'Paged task 3'), new ews.ItemView(10));
    assert.equal(exact.Items.length, 1);
  });

  it('SyncFolderItems: full, then incremental from the SyncState, paged by MaxChangesReturned', async () => {
    const mine = ewsService(sandbox.url, 'user0003@contoso.test');
    const folder = new ews.FolderId(ews.WellKnownFolderName.Calendar);
    const first = await mine.SyncFolderItems(folder, ews.PropertySet.FirstClassProperties, null as never, 2, ews.SyncFolderItemsScope.NormalItems, null as never);
    const all: string[] = [];
    let changes = first;
    for (;;) {
      for (let i = 0; i < changes.Count; i++) all.push(changes._getItem(i).ItemId.UniqueId);
      if (!changes.MoreChangesAvailable) break;
      changes = await mine.SyncFolderItems(folder, ews.PropertySet.IdOnly, null as never, 2, ews.SyncFolderItemsScope.NormalItems, changes.SyncState);
    }
    const mailbox = sandbox.store.byIndex(3)!;
    assert.equal(all.length, sandbox.store.itemsIn(mailbox, 'calendar').length);
    const state = changes.SyncState;

    const a = new ews.Appointment(mine);
    a.Subject = 'new since state';
    a.Start = at('2026-12-10T09:00:00Z');
    a.End = at('2026-12-10T10:00:00Z');
    await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
    a.Subject = 'changed twice';
    await a.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    const victim = await ews.Appointment.Bind(mine, new ews.ItemId(all[0]));
    await victim.Delete(ews.DeleteMode.MoveToDeletedItems);

    const delta = await mine.SyncFolderItems(folder, ews.PropertySet.FirstClassProperties, null as never, 512, ews.SyncFolderItemsScope.NormalItems, state);
    const kinds = Array.from({ length: delta.Count }, (_, i) => [ews.ChangeType[delta._getItem(i).ChangeType], delta._getItem(i).ItemId?.UniqueId]);
    assert.deepEqual(kinds.map((k) => k[0]).sort(), ['Create', 'Delete']);
    assert.ok(kinds.some(([k, id]) => k === 'Delete' && id === all[0]));
    assert.equal(delta.MoreChangesAvailable, false);
  });

  it('pull subscription: GetEvents with watermarks, MoreEvents, resume from a watermark, Unsubscribe', async () => {
    const mine = ewsService(sandbox.url, 'user0004@contoso.test');
    const sub = await mine.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 5, null as never,
      ews.EventType.Created, ews.EventType.Modified, ews.EventType.Deleted, ews.EventType.Moved);
    const empty = await sub.GetEvents();
    assert.equal(empty.AllEvents.length, 0, 'only a StatusEvent when nothing happened');
    const mailbox = sandbox.store.byIndex(4)!;
    sandbox.activity.mailboxFilter = (m) => m === mailbox;
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const a = new ews.Appointment(mine);
      a.Subject = `pull ${i}`;
      a.Start = at('2026-12-11T09:00:00Z');
      a.End = at('2026-12-11T10:00:00Z');
      await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
      ids.push(a.Id.UniqueId);
    }
    const watermarkBefore = sub.Watermark;
    const firstBatch = await sub.GetEvents();
    // 60 creations + 60 folder ModifiedEvents = 120 matching events → 50, then 50, then 20
    assert.equal(firstBatch.AllEvents.length, 50);
    assert.equal(sub.MoreEventsAvailable, true);
    const seen = firstBatch.ItemEvents.map((e) => e.ItemId.UniqueId);
    while (sub.MoreEventsAvailable) seen.push(...(await sub.GetEvents()).ItemEvents.map((e) => e.ItemId.UniqueId));
    assert.deepEqual(seen, ids, 'every creation, in order');

    // a new subscription resumes from an old watermark and sees the same events again
    const resumed = await mine.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 5, watermarkBefore, ews.EventType.Created);
    const again = await resumed.GetEvents();
    assert.equal(again.ItemEvents[0].ItemId.UniqueId, ids[0]);
    await resumed.Unsubscribe();
    await sub.Unsubscribe();
    await assert.rejects(() => sub.GetEvents(), (e: Error & { ErrorCode?: number }) => ews.ServiceError[e.ErrorCode!] === 'ErrorSubscriptionNotFound');
    sandbox.activity.mailboxFilter = undefined;
  });

  it('streaming: several subscriptions on one connection, events as they happen, errors per subscription', async () => {
    const services = [1, 2, 3].map((n) => ewsService(sandbox.url, `user000${n}@contoso.test`));
    const subs = await Promise.all(services.map((s) => s.SubscribeToStreamingNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar), new ews.FolderId(ews.WellKnownFolderName.Tasks)],
      ews.EventType.Created, ews.EventType.Modified, ews.EventType.Deleted, ews.EventType.Moved)));
    const connection = new ews.StreamingSubscriptionConnection(services[0], 1);
    for (const s of subs) connection.AddSubscription(s);
    const seen = new Map<string, string[]>();
    connection.OnNotificationEvent.push((_sender, args) => {
      const list = seen.get(args.Subscription.Id) ?? [];
      for (const e of args.Events) list.push(ews.EventType[e.EventType]);
      seen.set(args.Subscription.Id, list);
    });
    const errors: string[] = [];
    connection.OnSubscriptionError.push((_sender, args) => errors.push(String(args.Exception?.Message)));
    connection.Open();
    await waitFor(() => sandbox.openConnections.size === 1);
    for (const [i, s] of services.entries()) {
      const t = new ews.Task(s);
      t.Subject = `streamed ${i}`;
      await t.Save(ews.WellKnownFolderName.Tasks);
    }
    await waitFor(() => subs.every((s) => (seen.get(s.Id) ?? []).includes('Created')));
    assert.deepEqual(errors, []);
    // unsubscribing one drops only that one from the connection
    await subs[1].Unsubscribe();
    const t = new ews.Task(services[2]);
    t.Subject = 'after unsubscribe';
    await t.Save(ews.WellKnownFolderName.Tasks);
    await waitFor(() => (seen.get(subs[2].Id) ?? []).filter((e) => e === 'Created').length === 2);
    connection.Close();
    await waitFor(() => sandbox.openConnections.size === 0);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
