// What the SuperOffice adapter does beyond the port contract, against the simulator: signed
// webhooks as the fast path and the archive poll as the truth (a dropped webhook delays a
// change by at most one poll, never loses it), deletes whose webhook was lost, echoes told by
// the API user's associate id, 429 with Retry-After, and a create cut short before its stamp.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { crmRef, SuperOfficeCrm, SuperOfficeHttp, type CrmRef, type MappedRecords } from '../../../src/crm-adapter/index.js';
import { isRetriable } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore, PgliteDatabase } from '../../../src/state/index.js';
import { CrmToLog } from '../../../src/streams/crm-to-log.js';
import { parseEnvelope } from '../../../src/streams/envelope.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import type { SuperOfficeSandbox } from '../../../src/superoffice-sandbox/index.js';
import { capturedLogger } from '../../helpers/captured-logger.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { soClient, startCheckedSuperOffice, swaggerMissing } from '../../helpers/superoffice.js';

describe('SuperOffice adapter', () => {
  let so: SuperOfficeSandbox;
  let db: PgliteDatabase;
  let user: ReturnType<typeof soClient>;
  const known = new Map<CrmRef, string>();
  const mapped: MappedRecords = {
    page: async (_e, afterRef, limit) => [...known].filter(([ref]) => afterRef === undefined || ref.length > afterRef.length || (ref.length === afterRef.length && ref > afterRef))
      .sort(([a], [b]) => a.length - b.length || a.localeCompare(b)).slice(0, limit).map(([ref, mailbox]) => ({ ref, mailbox })),
    mailboxOf: async (ref) => known.get(ref),
  };
  const webhookOutcomes: string[] = [];
  const open = (overrides: Partial<Parameters<typeof SuperOfficeCrm.open>[0]> = {}): Promise<SuperOfficeCrm> => SuperOfficeCrm.open({
    http: new SuperOfficeHttp({ url: so.apiUrl, credentials: { kind: 'basic', user: 'ecs-sync', password: so.password }, tlsVerify: true, timeoutMs: 10_000, maxSockets: 8 }),
    tenant: so.apiUrl, application: 'ExchangeCrmSync', device: 'adapter-test', mapped, reconcileIntervalMs: 60_000, settleMs: 300, logger: silentLogger(),
    onWebhook: (o) => webhookOutcomes.push(o), ...overrides,
  });

  before(async () => {
    so = await startCheckedSuperOffice({ associates: 3 });
    db = await PgliteDatabase.open(null);
    user = soClient(so, 'user0001');
  });
  after(async () => {
    await db.close();
    await so.close();
  });

  /** A CRM → log reader on this adapter, and what it published. */
  async function reader(crm: SuperOfficeCrm, pollIntervalMs: number) {
    const schema = `log_${Math.random().toString(36).slice(2, 8)}`;
    const transport = await EmbeddedTransport.open(db, schema, 1, silentLogger());
    await transport.ensureTopics(['crm.changes', 'crm.changes.dlq']);
    const poller = new CrmToLog({ crm, positions: new MemoryPositionStore(), transport, topic: 'crm.changes', dlqTopic: 'crm.changes.dlq', logger: silentLogger(), pollIntervalMs });
    await poller.start();
    return {
      published: async () => (await transport.browse('crm.changes', 1_000)).map((m) => parseEnvelope(m.value)).map((e) => ({ subject: e.subject, op: e.op, title: e.after?.subject })),
      parked: async () => (await transport.browse('crm.changes.dlq', 1_000)).map((m) => ({ code: m.headers['ecs-error-code'], message: m.headers['ecs-error-message'], record: (JSON.parse(m.value) as { record: string }).record })),
      stop: async () => {
        await poller.stop();
        await transport.close();
      },
    };
  }

  it('a webhook wakes the reader at once; with webhooks dropped, the archive poll still delivers the change within a poll', { timeout: 60_000 }, async () => {
    const crm = await open({ webhook: { listen: { host: '127.0.0.1', port: 0 }, secret: 'test-secret' } });
    // a poll interval of a minute: only the webhook can bring the first change in time
    const log = await reader(crm, 60_000);
    try {
      const made = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Woken by a webhook', StartDate: '2026-12-21T09:00:00Z', EndDate: '2026-12-21T10:00:00Z' });
      const ref = crmRef('appointment', made.body.AppointmentId);
      await waitUntil(async () => (await log.published()).some((p) => p.subject === ref), 10_000, 'the change, woken by its webhook');
      assert.ok(webhookOutcomes.includes('accepted'));
    } finally {
      await log.stop();
    }
    so.dropWebhooks(1);
    const polling = await reader(crm, 1_000);
    try {
      const lost = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Its webhook was dropped', StartDate: '2026-12-22T09:00:00Z', EndDate: '2026-12-22T10:00:00Z' });
      await waitUntil(async () => (await polling.published()).some((p) => p.subject === crmRef('appointment', lost.body.AppointmentId)), 10_000, 'the change, found by the poll');
    } finally {
      so.dropWebhooks(0);
      await polling.stop();
      crm.close();
    }
  });

  it('a webhook with a bad signature, or none, is refused and counted, and wakes nothing', async () => {
    const crm = await open({ webhook: { listen: { host: '127.0.0.1', port: 0 }, secret: 'right-secret' } });
    let woken = 0;
    const stop = await crm.onChange(() => woken++);
    try {
      const hook = ((await soClient(so, 'ecs-sync')('GET', '/Webhook?nameFilter=exchange-crm-sync%20adapter-test')).body as Array<{ TargetUrl: string }>)[0];
      const body = JSON.stringify({ EventId: 'x', Event: 'activity.changed', PrimaryKey: 1, ChangedByAssociateId: 2 });
      const before = webhookOutcomes.filter((o) => o === 'refused').length;
      for (const signature of [createHmac('sha256', 'wrong-secret').update(body).digest('base64'), undefined]) {
        const r = await fetch(hook.TargetUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(signature ? { 'x-superoffice-signature': signature } : {}) } });
        assert.equal(r.status, 401);
      }
      assert.equal(webhookOutcomes.filter((o) => o === 'refused').length, before + 2);
      const good = await fetch(hook.TargetUrl, { method: 'POST', body, headers: { 'x-superoffice-signature': createHmac('sha256', 'right-secret').update(body).digest('base64') } });
      assert.equal(good.status, 200);
      assert.equal(woken, 1, 'only the signed request woke the reader');
    } finally {
      await stop();
      crm.close();
    }
  });

  it('the sync\'s own writes (UpdatedBy = the API user) are never sent back; a user\'s are', async () => {
    const crm = await open();
    const log = await reader(crm, 200);
    try {
      const ours = await crm.create(crmRef('associate', 2), 'appointment', { subject: 'Written by the sync', start: '2026-12-23T09:00:00Z', end: '2026-12-23T10:00:00Z' }, 'ews:echo-1');
      const theirs = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Written by a user', StartDate: '2026-12-23T11:00:00Z', EndDate: '2026-12-23T12:00:00Z' });
      await waitUntil(async () => (await log.published()).some((p) => p.subject === crmRef('appointment', theirs.body.AppointmentId)), 10_000, 'the user\'s change');
      await new Promise((r) => setTimeout(r, 800));
      assert.ok(!(await log.published()).some((p) => p.subject === ours.ref), 'the sync\'s own create is not in the log');
    } finally {
      await log.stop();
      crm.close();
    }
  });

  it('a series made in SuperOffice (a row per occurrence) goes out as one record with its rule, not as single appointments', async () => {
    const crm = await open();
    const log = await reader(crm, 200);
    try {
      const series = await user('POST', '/Appointment', {
        Associate: { AssociateId: 2 }, Title: 'Weekly in SuperOffice', StartDate: '2026-12-07T08:00:00Z', EndDate: '2026-12-07T09:00:00Z',
        Recurrence: { IsRecurrence: true, Pattern: 'Weekly', WeekPattern: { Weekdays: 'Monday', Cycle: 1 }, RecurrenceEndType: 'Counter', RecurrenceCounter: 3 },
      });
      const ref = `appointment:series-${series.body.Recurrence.RecurrenceId}-2`;
      await waitUntil(async () => (await log.published()).some((p) => p.subject === ref), 10_000, 'the series');
      const sent = (await log.published()).filter((p) => p.title === 'Weekly in SuperOffice');
      assert.deepEqual(sent.map((p) => p.subject), [ref], 'one record for the three rows');
      assert.equal((await crm.get(ref))?.fields.recurrence?.rrule, 'FREQ=WEEKLY;BYDAY=MO;COUNT=3');
      assert.deepEqual(await log.parked(), []);
    } finally {
      await log.stop();
      crm.close();
    }
  });

  it('a record deleted right after its create (before any mapping) still has its delete sent, to its owner', async () => {
    const crm = await open({ webhook: { listen: { host: '127.0.0.1', port: 0 }, secret: 'quick-delete' } });
    const schema = `log_${Math.random().toString(36).slice(2, 8)}`;
    const transport = await EmbeddedTransport.open(db, schema, 1, silentLogger());
    await transport.ensureTopics(['crm.changes', 'crm.changes.dlq']);
    // the earlier tests' series are parked: without a dead-letter topic they would stop the feed
    const poller = new CrmToLog({ crm, positions: new MemoryPositionStore(), transport, topic: 'crm.changes', dlqTopic: 'crm.changes.dlq', logger: silentLogger(), pollIntervalMs: 60_000 });
    await poller.start();
    try {
      const made = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Gone at once', StartDate: '2026-12-26T09:00:00Z', EndDate: '2026-12-26T10:00:00Z' });
      const ref = crmRef('appointment', made.body.AppointmentId);
      const sent = async (): Promise<Array<{ key: string; op: string }>> => (await transport.browse('crm.changes', 100)).filter((m) => parseEnvelope(m.value).subject === ref).map((m) => ({ key: m.key, op: parseEnvelope(m.value).op }));
      await waitUntil(async () => (await sent()).length === 1, 10_000, 'the create').catch(async (e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(await sent())}`); });
      assert.equal(await mapped.mailboxOf(ref), undefined, 'not mapped: the handlers have not seen it yet');
      await user('DELETE', `/Appointment/${made.body.AppointmentId}`);
      await waitUntil(async () => (await sent()).length === 2, 10_000, 'the delete');
      assert.deepEqual(await sent(), [{ key: 'user0001@contoso.test', op: 'c' }, { key: 'user0001@contoso.test', op: 'd' }], 'the delete follows its create on the owner\'s key');
    } finally {
      await poller.stop();
      await transport.close();
      crm.close();
    }
  });

  it('a delete whose webhook was lost is found by the check of mapped records', { timeout: 30_000 }, async () => {
    const crm = await open({ reconcileIntervalMs: 500 });
    const made = await user('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Deleted quietly', StartDate: '2026-12-24T09:00:00Z', EndDate: '2026-12-24T10:00:00Z' });
    const ref = crmRef('appointment', made.body.AppointmentId);
    known.set(ref, 'user0001@contoso.test');
    const log = await reader(crm, 200);
    try {
      await user('DELETE', `/Appointment/${made.body.AppointmentId}`);
      await waitUntil(async () => (await log.published()).some((p) => p.subject === ref && p.op === 'd'), 15_000, 'the delete');
      known.delete(ref);
    } finally {
      await log.stop();
      crm.close();
    }
  });

  it('429 with Retry-After: the call fails as retriable and nothing is sent until the wait is over', async () => {
    const http = new SuperOfficeHttp({ url: so.apiUrl, credentials: { kind: 'basic', user: 'ecs-sync', password: so.password }, tlsVerify: true, timeoutMs: 10_000, maxSockets: 2 });
    try {
      so.setFaults({ status: 429, probability: 1, retryAfterSeconds: 1 });
      const err = await http.request('GET', '/Appointment/default').catch((e: unknown) => e);
      assert.ok(isRetriable(err), String(err));
      assert.ok(http.gate.waitMs > 500, 'the gate holds back the next request');
      so.setFaults({ status: 429, probability: 0 });
      const before = so.stats.statuses['200'] ?? 0;
      const t0 = Date.now();
      assert.equal((await http.request('GET', '/Appointment/default')).status, 200);
      assert.ok(Date.now() - t0 >= 500, 'the next request waited for Retry-After');
      assert.equal((so.stats.statuses['200'] ?? 0) - before, 1);
    } finally {
      so.setFaults({ status: 429, probability: 0 });
      http.close();
    }
  });

  it('a create cut short between the POST and its stamp is found by what it holds and stamped, not made twice', async () => {
    const crm = await open();
    try {
      const fields = { subject: 'Half made', start: '2026-12-28T09:00:00Z', end: '2026-12-28T10:00:00Z' };
      // what the crashed attempt left: the appointment, created by the API user, without a key
      const half = await soClient(so, 'ecs-sync')('POST', '/Appointment', { Associate: { AssociateId: 2 }, Title: 'Half made', StartDate: fields.start, EndDate: fields.end, Type: 'inDiary' });
      const found = await crm.findStamped('ews:cut-short', { owner: crmRef('associate', 2), kind: 'appointment', fields });
      assert.equal(found?.ref, crmRef('appointment', half.body.AppointmentId));
      assert.equal((await crm.findStamped('ews:cut-short'))?.ref, found!.ref, 'stamped now');
      assert.equal(await crm.findStamped('ews:other', { owner: crmRef('associate', 2), kind: 'appointment', fields }), undefined, 'a stamped record is not adopted twice');
    } finally {
      crm.close();
    }
  });

  it('a never-ending series is bounded at the sync window, read back without end, and written on as the window moves', { timeout: 30_000 }, async () => {
    const DAY = 86_400_000;
    const start = Math.ceil(Date.now() / DAY) * DAY + 8 * 3_600_000; // tomorrow, 08:00 UTC
    const byDay = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'][new Date(start).getUTCDay()];
    const iso = (ms: number): string => new Date(ms).toISOString().replace('.000', '');
    const series = (subject: string, rrule: string) => ({ subject, start: iso(start), end: iso(start + 3_600_000), recurrence: { rrule, exdates: [], exceptions: [] } });
    const rowsOf = async (ref: string): Promise<Array<{ id: number; start: number; updatedBy: number }>> => {
      const rule = /series-(\d+)-/.exec(ref)![1];
      const r = await user('GET', `/Appointment?$select=appointmentId,date,updatedBy&$filter=${encodeURIComponent(`recurrenceRuleId equals ${rule} and associateId equals 2`)}&$orderBy=date`);
      return (r.body.value as Array<{ appointmentId: number; date: string; updatedBy: number }>).map((v) => ({ id: v.appointmentId, start: Date.parse(v.date), updatedBy: v.updatedBy }));
    };
    const only = (ref: string): MappedRecords => ({ page: async (_e, afterRef) => (afterRef ? [] : [{ ref, mailbox: 'user0001@contoso.test' }]), mailboxOf: async () => 'user0001@contoso.test' });
    const crm30 = await open({ seriesBoundDays: 30 });
    // a month later the window reaches 30 days further: an adapter with a 60-day window sees that today
    const crm60 = await open({ seriesBoundDays: 60 });
    const crm62 = await open({ seriesBoundDays: 62 });
    const crm120 = await open({ seriesBoundDays: 120 });
    try {
      const open30 = await crm30.create(crmRef('associate', 2), 'appointment', series('Weekly, no end', `FREQ=WEEKLY;BYDAY=${byDay}`), 'ews:open-series');
      const first = await rowsOf(open30.ref);
      assert.ok(first.length >= 4 && first.every((r) => r.start <= Date.now() + 31 * DAY), `rows up to the window only: ${first.length}`);
      assert.equal((await crm30.get(open30.ref))?.fields.recurrence?.rrule, `FREQ=WEEKLY;BYDAY=${byDay}`, 'read back without end: the end is the sync\'s, not the user\'s');

      assert.equal(await crm60.reconcile(only(open30.ref)), 0, 'nothing deleted');
      const extended = await rowsOf(open30.ref);
      assert.ok(extended.length >= 8 && extended.at(-1)!.start > Date.now() + 50 * DAY, `written on to the new window: ${extended.length} rows`);
      assert.deepEqual(extended.slice(0, first.length).map((r) => [r.id, r.start]), first.map((r) => [r.id, r.start]), 'the rows it had stay, on their occurrences');
      assert.ok(extended.every((r) => r.updatedBy === extended[0].updatedBy), 'every row written by the sync (no echo)');
      assert.equal((await crm60.get(open30.ref))?.fields.recurrence?.rrule, `FREQ=WEEKLY;BYDAY=${byDay}`);
      await crm60.reconcile(only(open30.ref));
      assert.equal((await rowsOf(open30.ref)).length, extended.length, 'a second check writes nothing');

      // while enough of the window is left, a write keeps the series' end (no new layout)
      const before = await crm62.get(open30.ref);
      const written = await crm62.update(open30.ref, { ...series('Weekly, renamed', `FREQ=WEEKLY;BYDAY=${byDay}`) }, before!.version);
      assert.equal(written.status, 'written');
      assert.deepEqual((await rowsOf(open30.ref)).map((r) => r.id), extended.map((r) => r.id), 'the same rows, renamed');

      // an exception in it (an occurrence moved an hour): written on too, the exception kept on its row
      await user('PATCH', `/Appointment/${extended[1].id}`, [{ op: 'replace', path: '/StartDate', value: iso(extended[1].start + 3_600_000) }, { op: 'replace', path: '/EndDate', value: iso(extended[1].start + 7_200_000) }]);
      await crm120.reconcile(only(open30.ref));
      const further = await rowsOf(open30.ref);
      assert.ok(further.length > extended.length && further.at(-1)!.start > Date.now() + 100 * DAY, `written on to 120 days: ${further.length} rows`);
      assert.equal(further.find((r) => r.id === extended[1].id)?.start, extended[1].start + 3_600_000, 'the moved occurrence stays moved, on its own row');
      assert.deepEqual([...(await crm120.exceptions(open30.ref)).keys()], [iso(extended[1].start)], 'one exception, at its occurrence');

      // a deleted occurrence before that exception: laying out would shift the exception's row
      // onto another occurrence, so the series waits for its next change from Exchange
      await user('DELETE', `/Appointment/${extended[0].id}`);
      const crm240 = await open({ seriesBoundDays: 240 });
      try {
        await crm240.reconcile(only(open30.ref));
      } finally {
        crm240.close();
      }
      assert.equal((await rowsOf(open30.ref)).length, further.length - 1, 'not laid out again');

      // a series that ends where its user said is no open one
      const until = new Date(start + 21 * DAY).toISOString().slice(0, 10).replace(/-/g, '');
      const bounded = await crm30.create(crmRef('associate', 2), 'appointment', series('Weekly, three weeks', `FREQ=WEEKLY;BYDAY=${byDay};UNTIL=${until}`), 'ews:bounded-series');
      const boundedRows = (await rowsOf(bounded.ref)).length;
      await crm120.reconcile(only(bounded.ref));
      assert.equal((await rowsOf(bounded.ref)).length, boundedRows);
      assert.equal((await crm120.get(bounded.ref))?.fields.recurrence?.rrule, `FREQ=WEEKLY;BYDAY=${byDay};UNTIL=${until}`);
    } finally {
      for (const c of [crm30, crm60, crm62, crm120]) c.close();
    }
  });

  it('a meeting the mailbox organizes carries its attendees who are CRM persons as the booking\'s participants; colleagues and strangers are not', async () => {
    const crm = await open();
    try {
      const company = await user('POST', '/Contact', { Name: 'Participants AS' });
      const person = async (email: string): Promise<number> => (await user('POST', '/Person', { Firstname: email.split('@')[0], Lastname: 'Kunde', Contact: { ContactId: company.body.ContactId }, Emails: [{ Value: email }] })).body.PersonId as number;
      const [ada, bo] = [await person('ada@participants.test'), await person('bo@participants.test')];
      const participants = async (ref: string): Promise<Array<[number, number]>> =>
        ((await user('GET', `/Appointment/${ref.split(':')[1]}`)).body.Participants as Array<{ AssociateId: number; PersonId: number }>).map((p) => [p.AssociateId, p.PersonId]);
      const meeting = {
        subject: 'Kick-off', start: '2026-12-29T09:00:00Z', end: '2026-12-29T10:00:00Z', organizer: 'user0001@contoso.test',
        attendees: [
          { email: 'ada@participants.test', role: 'required' as const }, { email: 'user0002@contoso.test', role: 'required' as const },
          { email: 'stranger@elsewhere.test', role: 'optional' as const }, { email: 'room1@contoso.test', role: 'resource' as const },
        ],
      };
      const made = await crm.create(crmRef('associate', 2), 'appointment', meeting, 'ews:meeting-1');
      assert.deepEqual(await participants(made.ref), [[0, ada]], 'Ada only: user0002 is a colleague, the stranger no CRM person, the room a resource');

      const moved = await crm.update(made.ref, { ...meeting, attendees: [...meeting.attendees, { email: 'bo@participants.test', role: 'optional' as const }] }, made.version);
      assert.equal(moved.status, 'written');
      assert.deepEqual((await participants(made.ref)).sort(), [[0, ada], [0, bo]].sort(), 'Bo was invited in Outlook');
      const again = await crm.update(made.ref, { ...meeting, attendees: [{ email: 'bo@participants.test', role: 'required' as const }] }, moved.status === 'written' ? moved.version : undefined);
      assert.equal(again.status, 'written');
      assert.deepEqual(await participants(made.ref), [[0, bo]], 'Ada was taken off the meeting');

      // an attendee's copy (organized by someone else) and an appointment without attendees carry none
      const copy = await crm.create(crmRef('associate', 3), 'appointment', { ...meeting, organizer: 'user0001@contoso.test' }, 'ews:meeting-copy');
      assert.deepEqual(await participants(copy.ref), []);
      const plain = await crm.create(crmRef('associate', 2), 'appointment', { subject: 'Alone', start: '2026-12-29T11:00:00Z', end: '2026-12-29T12:00:00Z', organizer: 'user0001@contoso.test' }, 'ews:plain-1');
      assert.deepEqual(await participants(plain.ref), []);
    } finally {
      crm.close();
    }
  });

  it('each user\'s direction is read from the field the operator names on the user\'s own person card, all users in one archive request', async () => {
    const captured = capturedLogger();
    const crm = await open({ directionField: 'personUdef/SuperOffice:7', logger: captured.logger });
    const without = await open();
    try {
      // as an administrator would: the field on the user's person card, through PersonEntity
      const setField = async (personId: number, bag: 'CustomFields' | 'UserDefinedFields', value: string): Promise<void> => {
        const { _Links: _, ...entity } = (await user('GET', `/Person/${personId}`)).body as Record<string, unknown>;
        assert.equal((await user('PUT', `/Person/${personId}`, { ...entity, CustomFields: {}, UserDefinedFields: {}, ExtraFields: {}, [bag]: { 'SuperOffice:7': value } })).status, 200);
      };
      const personOf = (login: string): number => so.store.associateByLogin(login)!.personId;
      await setField(personOf('user0001'), 'CustomFields', 'To CRM');
      await setField(personOf('user0002'), 'UserDefinedFields', 'off');
      // a customer whose card has the field set is no user: not read as one
      const company = await user('POST', '/Contact', { Name: 'Directions AS' });
      const customer = (await user('POST', '/Person', { Firstname: 'Cy', Lastname: 'Kunde', Contact: { ContactId: company.body.ContactId }, Emails: [{ Value: 'cy@directions.test' }], CustomFields: { 'SuperOffice:7': 'to-exchange' } })).body.PersonId as number;
      assert.equal((await user('GET', `/Person/${customer}`)).body.CustomFields['SuperOffice:7'], 'to-exchange');

      const before = so.stats.requests['GET /api/v1/Person'] ?? 0;
      assert.deepEqual(Object.fromEntries(await crm.mailboxDirections()), { 'user0001@contoso.test': 'to-crm', 'user0002@contoso.test': 'off' }, 'user0003 and the API user have it empty');
      assert.equal((so.stats.requests['GET /api/v1/Person'] ?? 0) - before, 1, 'one archive request for every user');

      // a value nobody can read is logged once, naming the user and the field, and the user follows the file
      await setField(personOf('user0003'), 'CustomFields', 'sideways');
      assert.deepEqual(Object.fromEntries(await crm.mailboxDirections()), { 'user0001@contoso.test': 'to-crm', 'user0002@contoso.test': 'off' });
      await crm.mailboxDirections();
      const told = captured.lines.filter((l) => l.event === 'policy.direction-unreadable');
      assert.equal(told.length, 1, JSON.stringify(told));
      assert.equal(told[0].mailbox, 'user0003@contoso.test');
      assert.match(String(told[0].msg), /personUdef\/SuperOffice:7 is "sideways", not one of two-way, to-crm, to-exchange, off/);
      // switched back on: emptied
      await setField(personOf('user0002'), 'CustomFields', '');
      assert.deepEqual(Object.fromEntries(await crm.mailboxDirections()), { 'user0001@contoso.test': 'to-crm' });

      // without <crm directionField> SuperOffice names no directions, and nothing is asked
      const quiet = so.stats.requests['GET /api/v1/Person'] ?? 0;
      assert.deepEqual(Object.fromEntries(await without.mailboxDirections()), {});
      assert.equal(so.stats.requests['GET /api/v1/Person'] ?? 0, quiet);
      // a field the tenant does not have is refused by the Web API, as an error the caller logs
      const unknownField = await open({ directionField: 'personExtra/x_no_such_field' });
      try {
        await assert.rejects(unknownField.mailboxDirections(), /x_no_such_field/);
      } finally {
        unknownField.close();
      }
    } finally {
      crm.close();
      without.close();
    }
  });

  it('every request and answer matched SuperOffice\'s Swagger definitions', { skip: swaggerMissing }, () => {
    assert.deepEqual(so.validator?.problems ?? ['no validator'], []);
  });
});
