import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { SchemaValidator } from '../../../src/sandbox/schema-validator.js';
import { repoRoot } from '../../helpers/cli.js';
import { ews, ewsService, soap } from '../../helpers/ews.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';

// Microsoft's published EWS schema lives in ../shared/ews-schemas (beside the repository in
// development and CI); ECS_EWS_SCHEMA_DIR points elsewhere.
const schemaDir = process.env.ECS_EWS_SCHEMA_DIR ?? join(repoRoot, '../shared/ews-schemas');
const haveSchema = existsSync(join(schemaDir, 'messages.xsd'));

describe('EWS sandbox messages validate against messages.xsd', () => {
  it('a representative session of every operation', { skip: haveSchema ? false : `EWS schema files not found in ${schemaDir} (set ECS_EWS_SCHEMA_DIR)` }, async () => {
    const validator = new SchemaValidator(schemaDir);
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 2, limits: { heartbeatMs: 100 }, minuteMs: 5_000, inspect: (d, op, xml) => validator.collect(d, op, xml) });
    try {
      const service = ewsService(sandbox.url, 'user0001@contoso.test');
      const at = (iso: string): ews.DateTime => new ews.DateTime(Date.parse(iso));
      await ews.Folder.Bind(service, ews.WellKnownFolderName.Calendar);
      await service.FindFolders(ews.WellKnownFolderName.MsgFolderRoot, new ews.FolderView(10));
      const folder = new ews.Folder(service);
      folder.DisplayName = 'Validated';
      await folder.Save(ews.WellKnownFolderName.MsgFolderRoot);
      const crmId = new ews.ExtendedPropertyDefinition(new ews.Guid('c11ff724-aa03-4555-9952-8fa248a11c3e'), 'CrmId', ews.MapiPropertyType.String);
      const a = new ews.Appointment(service);
      a.Subject = 'validated';
      a.Start = at('2026-06-01T09:00:00Z');
      a.End = at('2026-06-01T10:00:00Z');
      a.SetExtendedProperty(crmId, '7');
      const Weekly = ews.Recurrence.WeeklyPattern as unknown as new (s: ews.DateTime, i: number, d: ews.DayOfTheWeek[]) => InstanceType<typeof ews.Recurrence.WeeklyPattern>;
      a.Recurrence = new Weekly(at('2026-06-01T00:00:00Z'), 1, [ews.DayOfTheWeek.Monday]);
      a.Recurrence.NumberOfOccurrences = 3;
      await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
      const t = new ews.Task(service);
      t.Subject = 'validated task';
      await t.Save(ews.WellKnownFolderName.Tasks);
      const c = new ews.Contact(service);
      c.GivenName = 'Valid';
      await c.Save(ews.WellKnownFolderName.Contacts);
      await service.BindToItems([a.Id, t.Id, c.Id], new ews.PropertySet(ews.BasePropertySet.FirstClassProperties, [crmId, ews.AppointmentSchema.Recurrence, ews.AppointmentSchema.FirstOccurrence, ews.AppointmentSchema.LastOccurrence]));
      await service.FindAppointments(ews.WellKnownFolderName.Calendar, new ews.CalendarView(at('2026-05-25T00:00:00Z'), at('2026-07-01T00:00:00Z')));
      await service.FindItems(ews.WellKnownFolderName.Tasks, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, 'validated task'), new ews.ItemView(5));
      const occurrence = await ews.Appointment.BindToOccurrence(service, a.Id, 2);
      occurrence.Subject = 'moved';
      await occurrence.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      const loaded = await ews.Appointment.Bind(service, a.Id);
      loaded.Location = 'Room 1';
      await loaded.Update(ews.ConflictResolutionMode.AutoResolve, ews.SendInvitationsOrCancellationsMode.SendToNone);
      await service.SyncFolderItems(new ews.FolderId(ews.WellKnownFolderName.Calendar), ews.PropertySet.FirstClassProperties, null as never, 100, ews.SyncFolderItemsScope.NormalItems, null as never);
      const pull = await service.SubscribeToPullNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], 5, null as never, ews.EventType.Created, ews.EventType.Modified, ews.EventType.Moved, ews.EventType.Deleted);
      await pull.GetEvents();
      const stream = await service.SubscribeToStreamingNotifications([new ews.FolderId(ews.WellKnownFolderName.Calendar)], ews.EventType.Created, ews.EventType.Modified, ews.EventType.Moved);
      const connection = new ews.StreamingSubscriptionConnection(service, 1);
      connection.AddSubscription(stream);
      let notified = false;
      connection.OnNotificationEvent.push(() => (notified = true));
      connection.Open();
      await new Promise((r) => setTimeout(r, 150));
      await t.Delete(ews.DeleteMode.MoveToDeletedItems);
      await loaded.Delete(ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone);
      await pull.GetEvents();
      await new Promise((r) => setTimeout(r, 250));
      connection.Close();
      await pull.Unsubscribe();
      await c.Delete(ews.DeleteMode.HardDelete);
      // error responses too
      await soap(sandbox.url, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="${itemIdOf(1, 9999)}"/></m:ItemIds></m:GetItem>`, { mailbox: 'user0001@contoso.test' });
      await soap(sandbox.url, '<m:GetEvents><m:SubscriptionId>gone</m:SubscriptionId><m:Watermark>AAAA</m:Watermark></m:GetEvents>', { mailbox: 'user0001@contoso.test' });
      assert.ok(notified, 'the streaming connection delivered a notification');
      assert.ok(validator.size > 40, `collected ${validator.size} messages`);
      const problems = await validator.validate();
      assert.deepEqual(problems, []);
    } finally {
      await sandbox.close();
    }
  });

  it('the validator does catch an invalid message', { skip: haveSchema ? false : `EWS schema files not found in ${schemaDir}` }, async () => {
    const validator = new SchemaValidator(schemaDir);
    validator.collect('request', 'GetStreamingEvents', '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Body><m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>x</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>31</m:ConnectionTimeout></m:GetStreamingEvents></soap:Body></soap:Envelope>');
    // a response with elements out of schema order (Start before Subject)
    validator.collect('response', 'GetItem', '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem><t:Start>2026-01-01T00:00:00Z</t:Start><t:Subject>x</t:Subject></t:CalendarItem></m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>');
    const problems = await validator.validate();
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0], /ConnectionTimeout/);
    assert.match(problems[1], /Subject/);
  });
});
