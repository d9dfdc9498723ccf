// The SuperOffice Web API simulator over HTTP, as the adapter and a user's client meet it;
// every request body and answer is checked against SuperOffice's Swagger definitions.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SuperOfficeSandbox } from '../../../src/superoffice-sandbox/index.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { soClient, startCheckedSuperOffice, swaggerMissing } from '../../helpers/superoffice.js';

describe('SuperOffice Web API simulator', () => {
  let so: SuperOfficeSandbox;
  let api: ReturnType<typeof soClient>;
  let user: ReturnType<typeof soClient>;
  before(async () => {
    so = await startCheckedSuperOffice({ associates: 3 });
    api = soClient(so, 'ecs-sync');
    user = soClient(so, 'user0001');
  });
  after(() => so?.close());

  it('Basic, SOTICKET and Bearer authenticate; anything else is 401 with WWW-Authenticate', async () => {
    assert.equal((await api('GET', '/User/currentAssociate')).body.AssociateId, so.apiUser.id);
    assert.equal((await soClient(so, '', `SOTICKET ${so.ticketFor('user0002')}`)('GET', '/User/currentAssociate')).body.Name, 'user0002');
    assert.equal((await soClient(so, '', `Bearer ${so.tokenFor('user0003')}`)('GET', '/User/currentAssociate')).body.Name, 'user0003');
    for (const bad of [undefined, `Basic ${Buffer.from('user0001:wrong').toString('base64')}`, 'Bearer 7A:forged', 'SOTICKET 7T:forged']) {
      const r = await fetch(`${so.apiUrl}/Appointment/default`, { headers: bad ? { authorization: bad } : {} });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /Basic/);
      assert.equal(((await r.json()) as { ErrorType: string }).ErrorType, 'SoAuthenticationException');
    }
  });

  it('users and their e-mail addresses are an archive; an appointment is created, read, changed at a version and deleted', async () => {
    const users = await api('GET', '/User?$select=associateId,userName,email&$filter=deleted set 0&$orderBy=associateId');
    assert.deepEqual(users.body.value.map((u: { email: string }) => u.email), ['ecs-sync@contoso.test', 'user0001@contoso.test', 'user0002@contoso.test', 'user0003@contoso.test']);
    const created = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Review', StartDate: '2026-12-14T09:00:00', EndDate: '2026-12-14T10:00:00', Type: 'inDiary', Private: 'PrivateUser', Location: 'Room 4' });
    assert.equal(created.status, 200);
    const id = created.body.AppointmentId;
    assert.equal(created.body.StartDate, '2026-12-14T09:00:00.000Z', 'a date without an offset is UTC');
    assert.equal(created.body.UpdatedBy.AssociateId, 2);
    assert.equal(created.body._Links.Self, `${so.url}/api/v1/Appointment/${id}`);
    const { _Links, ...entity } = created.body;
    assert.ok(_Links);
    // If-Unmodified-Since before the last change: 412, nothing written
    const stale = await api('PUT', `/Appointment/${id}`, { ...entity, Title: 'Too late' }, { 'if-unmodified-since': new Date(Date.parse(created.body.UpdatedDate) - 2_000).toUTCString() });
    assert.equal(stale.status, 412);
    assert.equal((await api('GET', `/Appointment/${id}`)).body.Title, 'Review');
    const put = await api('PUT', `/Appointment/${id}`, { ...entity, Title: 'Review (moved)' }, { 'if-unmodified-since': new Date(Date.parse(created.body.UpdatedDate) + 1_000).toUTCString() });
    assert.equal(put.status, 200);
    assert.equal(put.body.UpdatedBy.AssociateId, so.apiUser.id, 'UpdatedBy says who wrote it');
    assert.ok(Date.parse(put.body.UpdatedDate) > Date.parse(created.body.UpdatedDate));
    // If-Modified-Since after the last change: 304
    assert.equal((await api('GET', `/Appointment/${id}`, undefined, { 'if-modified-since': new Date(Date.parse(put.body.UpdatedDate) + 1_000).toUTCString() })).status, 304);
    // JSON Patch with a failing test op: 409; a merge patch: 200
    assert.equal((await api('PATCH', `/Appointment/${id}`, [{ op: 'test', path: '/Title', value: 'Review' }, { op: 'replace', path: '/Title', value: 'X' }])).status, 409);
    assert.equal((await api('PATCH', `/Appointment/${id}`, [{ op: 'test', path: '/Title', value: 'Review (moved)' }, { op: 'replace', path: '/Location', value: 'Room 5' }])).body.Location, 'Room 5');
    assert.equal((await api('PATCH', `/Appointment/${id}`, { Location: 'Room 6' })).body.Location, 'Room 6');
    assert.equal((await api('DELETE', `/Appointment/${id}`)).status, 204);
    assert.equal((await api('GET', `/Appointment/${id}`)).status, 404);
    assert.equal((await api('GET', `/Appointment/${id}`)).body.ErrorType, 'SoNotFoundException');
  });

  it('a task is an appointment in the checklist with a Completed state', async () => {
    const task = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Call back', StartDate: '2026-12-15T16:00:00Z', EndDate: '2026-12-15T16:00:00Z', Type: 'inChecklist', Completed: 'NotStarted' });
    assert.equal(task.body.Type, 'inChecklist');
    const done = await user('PATCH', `/Appointment/${task.body.AppointmentId}`, { Completed: 'Completed' });
    assert.equal(done.body.Completed, 'Completed');
    const rows = await api('GET', `/Appointment?$select=appointmentId,type,completed&$filter=appointmentId equals ${task.body.AppointmentId}`);
    assert.deepEqual(rows.body.value, [{ appointmentId: task.body.AppointmentId, type: 'inChecklist', completed: true }]);
  });

  it('the archive filters on updatedDate afterTime, orders, pages with $top and odata.nextLink, and refuses unknown columns', async () => {
    const since = new Date(so.store.now()).toISOString();
    for (let i = 0; i < 5; i++) await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: `Batch ${i}`, StartDate: '2026-12-16T09:00:00Z', EndDate: '2026-12-16T10:00:00Z' });
    let path: string | undefined = `/Appointment?$select=appointmentId,text,updatedDate&$filter=updatedDate afterTime '${since}'&$orderBy=updatedDate,appointmentId&$top=2`;
    const seen: string[] = [];
    while (path) {
      const page = await api('GET', path);
      assert.ok(page.body.value.length <= 2);
      seen.push(...page.body.value.map((r: { text: string }) => r.text));
      path = page.body['odata.nextLink']?.slice(so.apiUrl.length);
    }
    assert.deepEqual(seen, ['Batch 0', 'Batch 1', 'Batch 2', 'Batch 3', 'Batch 4']);
    const bad = await api('GET', '/Appointment?$filter=nonsense equals 1');
    assert.equal(bad.status, 400);
    assert.match(bad.body.ErrorMessage, /nonsense/);
  });

  it('a series is one row per occurrence tied by a rule id; the agent changes one or the following ones; a series without end is refused', async () => {
    const series = await user('POST', '/Appointment', {
      Associate: { AssociateId: 2 }, Title: 'Weekly', StartDate: '2026-12-07T08:00:00Z', EndDate: '2026-12-07T09:00:00Z',
      Recurrence: { IsRecurrence: true, Pattern: 'Weekly', WeekPattern: { Weekdays: 'Monday, Wednesday', Cycle: 1 }, RecurrenceEndType: 'Counter', RecurrenceCounter: 4 },
    });
    const ruleId = series.body.Recurrence.RecurrenceId;
    assert.deepEqual(series.body.Recurrence.Dates.map((d: { Date: string }) => d.Date), ['2026-12-07T08:00:00.000Z', '2026-12-09T08:00:00.000Z', '2026-12-14T08:00:00.000Z', '2026-12-16T08:00:00.000Z']);
    const rows = async (): Promise<Array<{ appointmentId: number; date: string; text: string }>> =>
      (await api('GET', `/Appointment?$select=appointmentId,date,text&$filter=recurrenceRuleId equals ${ruleId}&$orderBy=date`)).body.value;
    assert.equal((await rows()).length, 4);
    const third = (await rows())[2];
    const entity = (await api('GET', `/Appointment/${third.appointmentId}`)).body;
    delete entity._Links;
    const saved = await api('POST', '/Agents/Appointment/Save', { AppointmentEntity: { ...entity, Title: 'Weekly (from the 14th)' }, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false });
    assert.equal(saved.status, 200);
    assert.deepEqual((await rows()).map((r) => r.text), ['Weekly', 'Weekly', 'Weekly (from the 14th)', 'Weekly (from the 14th)']);
    assert.equal((await api('POST', '/Agents/Appointment/Delete', { AppointmentId: (await rows())[1].appointmentId, UpdateMode: 'OnlyThis', SendEmailToParticipants: false })).status, 204);
    assert.equal((await rows()).length, 3);
    const endless = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Forever', StartDate: '2026-12-07T08:00:00Z', EndDate: '2026-12-07T09:00:00Z', Recurrence: { IsRecurrence: true, Pattern: 'Daily', RecurrenceEndType: 'Unknown' } });
    assert.equal(endless.status, 400);
    assert.match(endless.body.ErrorMessage, /end/);
  });

  it('a booking gives each invited associate a row of their own, tied by MotherId', async () => {
    const master = await user('POST', '/Appointment', {
      Associate: { AssociateId: 2 }, Title: 'Kick-off', StartDate: '2026-12-18T09:00:00Z', EndDate: '2026-12-18T10:00:00Z',
      Participants: [{ AssociateId: 3, PersonId: 0, ContactId: 0, InvitationStatus: 'Invitation' }, { AssociateId: 0, PersonId: 0, ContactId: 0, EmailAddress: 'guest@customer.test' }],
    });
    assert.equal(master.body.MotherId, master.body.AppointmentId);
    assert.equal(master.body.BookingType, 'Owner');
    const copies = (await api('GET', `/Appointment?$select=appointmentId,associateId,booking&$filter=text is 'Kick-off'&$orderBy=appointmentId`)).body.value;
    assert.deepEqual(copies.map((c: { associateId: number }) => c.associateId), [2, 3]);
    assert.equal((await api('GET', `/Appointment/${copies[1].appointmentId}`)).body.MotherId, master.body.AppointmentId);
  });

  it('foreign keys stamp a record and find it by value; they go with the record', async () => {
    const a = await api('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Stamped', StartDate: '2026-12-19T09:00:00Z', EndDate: '2026-12-19T10:00:00Z' });
    const key = await api('POST', '/ForeignApp/ExchangeCrmSync/Exchange/default/Key', { Key: 'item', Value: 'ews:abc', TableName: 'appointment', RecordId: a.body.AppointmentId });
    assert.equal(key.status, 200);
    assert.equal((await api('GET', '/ForeignApp/ExchangeCrmSync/Exchange/Key/item/appointment?keyValue=ews:abc')).body.RecordId, a.body.AppointmentId);
    assert.deepEqual((await api('GET', `/Appointment/${a.body.AppointmentId}/ForeignKey`)).body, { 'ExchangeCrmSync.Exchange.item': 'ews:abc' });
    await api('DELETE', `/Appointment/${a.body.AppointmentId}`);
    assert.equal((await api('GET', '/ForeignApp/ExchangeCrmSync/Exchange/Key/item/appointment?keyValue=ews:abc')).body.RecordId, 0, 'no record has that key any more');
  });

  it('a static selection of persons: members added by person or by company, listed as an archive, removed; renamed; deleted', async () => {
    const company = await user('POST', '/Contact', { Name: 'Fabrikam' });
    const persons = [];
    for (const [first, last] of [['Ada', 'Berg'], ['Bo', 'Lind']]) {
      persons.push((await user('POST', '/Person', { Firstname: first, Lastname: last, Contact: { ContactId: company.body.ContactId }, Emails: [{ Value: `${first.toLowerCase()}@fabrikam.test` }] })).body.PersonId as number);
    }
    const loner = (await user('POST', '/Person', { Firstname: 'Cy', Lastname: 'Ek', Emails: [{ Value: 'cy@example.test' }] })).body.PersonId as number;
    const sel = await user('POST', '/Selection', { Name: 'Key accounts', SelectionType: 'Static', TargetTableName: 'contact' });
    assert.equal(sel.status, 200);
    const id = sel.body.SelectionId as number;
    assert.equal(sel.body.Associate.AssociateId, 2, 'owned by the user who made it');
    assert.equal((await user('POST', `/Selection/${id}/Members/AddPerson`, [{ PersonId: loner, ContactId: 0 }, { PersonId: 0, ContactId: company.body.ContactId }])).status, 204);
    const members = async (): Promise<number[]> => (await user('GET', `/Selection/${id}/Members?$select=personId,email&$orderBy=personId`)).body.value.map((m: { personId: number }) => m.personId);
    assert.deepEqual(await members(), [...persons, loner].sort((a, b) => a - b));
    assert.equal((await user('GET', `/Selection/${id}`)).body.MemberCount, 3);
    await user('POST', `/Selection/${id}/Members/RemovePerson`, [{ PersonId: persons[0], ContactId: 0 }]);
    await user('DELETE', `/Person/${loner}`);
    assert.deepEqual(await members(), [persons[1]], 'removed, and a deleted person leaves the selection');
    assert.equal((await user('POST', `/Selection/${id}/Members/AddPerson`, [{ PersonId: 999_999, ContactId: 0 }])).status, 400, 'an unknown person is refused');
    assert.equal((await user('PATCH', `/Selection/${id}`, [{ op: 'replace', path: '/Name', value: 'Key accounts 2027' }])).body.Name, 'Key accounts 2027');
    assert.equal((await user('POST', '/Selection', { Name: 'Deals', TargetTableName: 'sale' })).status, 400, 'only selections of companies and persons');
    assert.equal((await user('DELETE', `/Selection/${id}`)).status, 204);
    assert.equal((await user('GET', `/Selection/${id}`)).status, 404);
  });

  it('webhooks: signed with HMAC-SHA256 of the body, say who changed it; a dropped event is never sent; a failing target gets three tries, then the event is gone', async () => {
    const received: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
    let failing = false;
    const target = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(failing ? 500 : 200).end();
      });
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/hook`;
    try {
      const hook = await api('POST', '/Webhook', { Name: 'ecs', Events: ['activity.created', 'activity.changed', 'activity.deleted'], TargetUrl: url, Secret: 's3cret', Type: 'webhook', State: 'Active' });
      assert.equal(hook.status, 200);
      assert.equal(hook.body.Secret, '', 'the secret is never read back');
      assert.equal((await api('GET', '/Webhook')).body.length, 1);
      const a = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Hooked', StartDate: '2026-12-20T09:00:00Z', EndDate: '2026-12-20T10:00:00Z' });
      await waitUntil(() => received.length >= 1, 5_000, 'the created event');
      const [first] = received;
      assert.equal(first.headers['x-superoffice-event'], 'activity.created');
      assert.equal(first.headers['x-superoffice-signature'], createHmac('sha256', 's3cret').update(first.body).digest('base64'));
      const payload = JSON.parse(first.body);
      assert.deepEqual([payload.Event, payload.PrimaryKey, payload.ChangedByAssociateId, payload.Entity], ['activity.created', a.body.AppointmentId, 2, 'activity']);
      await api('DELETE', `/Appointment/${a.body.AppointmentId}`);
      await waitUntil(() => received.some((r) => r.headers['x-superoffice-event'] === 'activity.deleted'), 5_000, 'the deleted event');
      assert.equal(JSON.parse(received.at(-1)!.body).Values.appointment_id, a.body.AppointmentId);
      // dropped events are never sent
      so.dropWebhooks(1);
      const before = received.length;
      await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Lost', StartDate: '2026-12-20T09:00:00Z', EndDate: '2026-12-20T10:00:00Z' });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(received.length, before);
      so.dropWebhooks(0);
      // a failing target: three tries (0, 1 s, 4 s) with X-SuperOffice-Retry, then the event is gone
      failing = true;
      await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Failing', StartDate: '2026-12-20T09:00:00Z', EndDate: '2026-12-20T10:00:00Z' });
      await waitUntil(() => received.length === before + 3, 10_000, 'three tries');
      assert.deepEqual(received.slice(before).map((r) => r.headers['x-superoffice-retry']), ['0', '1', '2']);
      assert.equal(new Set(received.slice(before).map((r) => r.headers['x-superoffice-eventid'])).size, 1, 'the same EventId on every try');
      const state = (await api('GET', `/Webhook/${hook.body.WebhookId}`)).body;
      assert.equal(state.ConsecutiveErrors, 3);
      assert.equal(state.State, 'Active');
      assert.equal((await api('DELETE', `/Webhook/${hook.body.WebhookId}`)).status, 204);
    } finally {
      await new Promise((r) => target.close(r));
    }
  });

  it('faults: 429 and 503 with Retry-After, slow answers, a restart', async () => {
    so.setFaults({ status: 429, probability: 1, retryAfterSeconds: 2 });
    const busy = await api('GET', '/Appointment/default');
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('retry-after'), '2');
    so.setFaults({ status: 503, probability: 0 });
    so.setLatency(150);
    const t0 = Date.now();
    assert.equal((await api('GET', '/Appointment/default')).status, 200);
    assert.ok(Date.now() - t0 >= 140, 'the answer waited for the latency set');
    so.setLatency(0);
    so.restart(500);
    // the restart cut the kept-alive connection: a client's first call may fail outright
    const during = await api('GET', '/Appointment/default').catch(() => api('GET', '/Appointment/default'));
    assert.equal(during.status, 503);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await api('GET', '/Appointment/default')).status, 200, 'back after the restart; the data is kept');
  });

  it('every request body and answer matched SuperOffice\'s Swagger definitions', { skip: swaggerMissing }, () => {
    assert.deepEqual(so.validator?.problems ?? ['no validator'], []);
  });
});
