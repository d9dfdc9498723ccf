// Graph end to end: the service (a child process, real Kafka, PostgreSQL) syncs the sandbox's
// mailboxes through its Microsoft Graph endpoint — app-only tokens from its Entra endpoint, TLS
// verified against its CA file — while users change both sides: in Outlook (EWS, the same
// mailbox store Graph reads) and in the CRM. GraphNotify: the service is SIGKILLed halfway and
// started again; then Graph removes every subscription, drops notifications, forgets every
// delta token and throttles a third of the requests (429, Retry-After) while users go on.
// GraphDelta: the same users without faults. At each quiescence every event of the window has
// exactly one CRM row at its current version and subject, no row is left over, no delete was lost.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { initReferenceCrm, seedDemoAssociates, type CrmRef } from '../../../src/crm-adapter/index.js';
import { changeKeyOf, itemIdOf } from '../../../src/sandbox/ids.js';
import { graphIdOf } from '../../../src/sandbox/graph/graph-ids.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { prng } from '../../../src/sandbox/prng.js';
import { PgDatabase } from '../../../src/state/index.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { referenceCrmUser } from '../../helpers/reference-crm-user.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, writeConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

const MAILBOXES = 6;
const DAY = 86_400_000;

interface Scenario {
  readonly mode: 'GraphDelta' | 'GraphNotify';
  /** Attributes of <graph> for the mode. */
  readonly graph: string;
  readonly faults: boolean;
  /** Users' changes before the first agreement (default 30, and 35 more around a SIGKILL). */
  readonly operations?: number;
  /** Then a series each way (made in Outlook, an occurrence deleted; made in the CRM with an EXDATE), and a To Do task each way. */
  readonly series?: boolean;
  /** GraphNotify through an Event Hub (a topic on the test's broker, named in the sandbox's key vault) instead of a webhook. */
  readonly eventHub?: boolean;
  /** Then every subscription told reauthorizationRequired (its notifications held back until reauthorized) while users go on. */
  readonly reauthorization?: boolean;
}

async function scenario(o: Scenario): Promise<void> {
  const sandbox = await startSandbox({
    mailboxes: MAILBOXES, itemsPerMailbox: 3, seed: 303,
    oauth: { apps: [{ tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: 'graph-secret' }] }, graph: true,
  });
  const db = new PgDatabase(postgresUrl());
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  let service: ServiceProcess | undefined;
  try {
    await initReferenceCrm(db, crmSchema);
    const mailboxes = sandbox.store.all().map((m) => m.address);
    await seedDemoAssociates(db, crmSchema, mailboxes);
    const env: Record<string, string> = { ECS_TEST_GRAPH_SECRET: 'graph-secret' };
    let graphAttributes = o.graph;
    if (o.eventHub) {
      // the operator's Event Hub (made before use) and the Key Vault secret Graph sends with;
      // the sync listens with a connection string of its own
      const hub = uniqueName('graph-hub');
      const admin = new Kafka({ clientId: 'graph-hub-admin', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: hub, numPartitions: 2 }], waitForLeaders: true });
      await admin.disconnect();
      const secretUrl = 'https://contoso-kv.vault.azure.net/secrets/graph-notifications';
      sandbox.graph!.subscriptions.eventHubs.setSecret(secretUrl, `Endpoint=sb://${kafkaBrokers()[0]}/;SharedAccessKeyName=graph-send;SharedAccessKey=send-key;EntityPath=${hub}`);
      env.ECS_TEST_EVENT_HUB = `Endpoint=sb://${kafkaBrokers()[0]}/;SharedAccessKeyName=sync-listen;SharedAccessKey=listen-key;EntityPath=${hub}`;
      graphAttributes += ` notify="eventhub" eventHubUrl="EventHub:${secretUrl}?tenantId=contoso.test" eventHubConnectionStringEnv="ECS_TEST_EVENT_HUB" eventHubTls="false"`;
    }
    const { file, dir } = writeConfig(`
      <exchange><events><advise Object="${o.mode}"/></events>
        <graph url="${sandbox.graph!.url}" authority="${sandbox.tokens!.url}" tenant="contoso" clientId="exchange-crm-sync" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="sandbox-ca.pem" ${graphAttributes}/>
        <mailboxes source="crm" refresh="10s"/></exchange>
      <crm type="postgres" url="${postgresUrl()}" schema="${crmSchema}" stateSchema="${stateSchema}" pollInterval="300ms"/>
      <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${uniqueName(o.mode.toLowerCase())}." partitions="2"/>
      <sync items="${o.series ? 'appointments,tasks' : 'appointments'}"/>
      <ops listen="127.0.0.1:0"/>`);
    writeFileSync(join(dir, 'sandbox-ca.pem'), sandbox.tokens!.ca);
    const start = (): Promise<ServiceProcess> => startServiceProcess(file, env);
    // what is synced: the calendars, and the task lists (To Do) with the series scenario
    const folders = o.series ? ['calendar', 'tasks'] : ['calendar'];
    const crmUser = referenceCrmUser(db, crmSchema);
    const random = prng(7);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const when = (): { start: string; end: string } => {
      const s = Math.floor((Date.now() + (1 + random() * 20) * DAY) / 3_600_000) * 3_600_000;
      return { start: new Date(s).toISOString(), end: new Date(s + 3_600_000).toISOString() };
    };
    const records: CrmRef[] = [];
    let n = 0;
    /** A round of users' work: Outlook users create, rename and delete; CRM users create, rename and delete. */
    const usersAct = async (operations: number): Promise<void> => {
      for (let i = 0; i < operations; i++) {
        const mailbox = pick(mailboxes);
        const roll = random();
        const service = ewsService(sandbox.url, mailbox);
        const items = sandbox.store.itemsIn(sandbox.store.byEmail(mailbox)!, 'calendar');
        if (roll < 0.25) {
          const appointment = new ews.Appointment(service);
          const t = when();
          appointment.Subject = `outlook ${++n}`;
          appointment.Start = new ews.DateTime(Date.parse(t.start));
          appointment.End = new ews.DateTime(Date.parse(t.end));
          await appointment.Save(new ews.FolderId(ews.WellKnownFolderName.Calendar), ews.SendInvitationsMode.SendToNone);
        } else if (roll < 0.4 && items.length) {
          const item = await ews.Appointment.Bind(service, new ews.ItemId(itemIdOfStored(sandbox, mailbox, pick(items).seq)));
          item.Subject = `outlook rename ${++n}`;
          await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
        } else if (roll < 0.5 && items.length) {
          await service.DeleteItems([new ews.ItemId(itemIdOfStored(sandbox, mailbox, pick(items).seq))], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
        } else if (roll < 0.75) {
          const t = when();
          records.push(await crmUser.createAppointment(mailbox, `crm ${++n}`, t.start, t.end));
        } else if (roll < 0.9 && records.length) {
          const ref = pick(records);
          await crmUser.rename(ref, `crm rename ${++n}`).catch(() => undefined); // deleted meanwhile
        } else if (records.length) {
          const ref = records.splice(Math.floor(random() * records.length), 1)[0];
          await crmUser.delete(ref).catch(() => undefined);
        }
      }
    };

    /** Quiescence: the mailboxes' events and the CRM agree, and it holds for a while after. */
    const converged = async (what: string): Promise<Agreement> => {
      let last: Agreement | undefined;
      await waitUntil(async () => {
        last = await agreement(db, sandbox, crmSchema, stateSchema, folders);
        return last.missing + last.stale + last.ghosts + last.unlinked + last.subjects === 0 && last.events > 0;
      }, 120_000, `the mailboxes and the CRM to agree ${what}`).catch((err: Error) => {
        throw new Error(`${err.message}; last: ${JSON.stringify(last)}`);
      });
      await new Promise((r) => setTimeout(r, 4_000));
      const final = await agreement(db, sandbox, crmSchema, stateSchema, folders);
      assert.deepEqual({ ...final, events: 0, rows: 0 }, { events: 0, rows: 0, missing: 0, stale: 0, ghosts: 0, unlinked: 0, subjects: 0 }, what);
      assert.equal(final.rows, final.events, `one CRM row per event ${what}`);
      return final;
    };
    const control = (path: string, body: unknown): Promise<Response> => fetch(`http://127.0.0.1:${sandbox.port}/sandbox/graph/${path}`, { method: 'POST', body: JSON.stringify(body) });

    service = await start();
    await waitUntil(async () => (await (await fetch(`${service!.opsUrl}/readyz`)).status) === 200, 60_000, 'the service ready');
    await usersAct(o.operations ?? 30);
    if (o.faults) {
      // halfway: the service dies without a word, the users go on, the service comes back
      await service.stop('SIGKILL');
      await usersAct(20);
      service = await start();
      await usersAct(15);
    }
    await converged(o.faults ? 'after the SIGKILL' : '');
    if (o.series) {
      // Outlook: a daily series, then its second occurrence deleted → the CRM's record, its EXDATE
      const mailbox = mailboxes[1];
      const service = ewsService(sandbox.url, mailbox);
      const first = Math.floor((Date.now() + 3 * DAY) / DAY) * DAY + 9 * 3_600_000;
      const appointment = new ews.Appointment(service);
      appointment.Subject = 'outlook series';
      appointment.Start = new ews.DateTime(first);
      appointment.End = new ews.DateTime(first + 3_600_000);
      appointment.StartTimeZone = ews.TimeZoneInfo.FindSystemTimeZoneById('UTC');
      appointment.Recurrence = new (ews.Recurrence.DailyPattern as unknown as new (s: ews.DateTime, i: number) => ews.Recurrence)(new ews.DateTime(first - (first % DAY)), 1);
      appointment.Recurrence.NumberOfOccurrences = 4;
      await appointment.Save(new ews.FolderId(ews.WellKnownFolderName.Calendar), ews.SendInvitationsMode.SendToNone);
      const ruleOf = async (title: string): Promise<string | undefined> => (await db.query<{ recurrence_rule: string | null }>(`select recurrence_rule from ${crmSchema}.appointment where title = $1`, [title])).rows[0]?.recurrence_rule ?? undefined;
      await waitUntil(async () => /FREQ=DAILY;COUNT=4/.test((await ruleOf('outlook series')) ?? ''), 60_000, 'the Outlook series in the CRM');
      const second = await ews.Appointment.BindToOccurrence(service, appointment.Id, 2);
      await second.Delete(ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone);
      const exdate = new Date(first + DAY).toISOString().replace(/\.000Z$/, 'Z').replace(/[-:]/g, '');
      await waitUntil(async () => ((await ruleOf('outlook series')) ?? '').includes(`EXDATE:${exdate}`), 60_000, 'the deleted occurrence as the record\'s EXDATE');
      // the CRM: a weekly series with its second week left out → the event in the mailbox, that occurrence deleted
      const crmFirst = first + 3_600_000;
      await crmUser.createSeries(mailbox, 'crm series', new Date(crmFirst).toISOString(), new Date(crmFirst + 1_800_000).toISOString(), 'FREQ=WEEKLY;COUNT=3', [new Date(crmFirst + 7 * DAY).toISOString().replace(/\.000Z$/, 'Z')]);
      const box = sandbox.store.byEmail(mailbox)!;
      await waitUntil(async () => sandbox.store.itemsIn(box, 'calendar').some((i) => i.props.Subject === 'crm series' && typeof i.props.Recurrence === 'object' && [...(i.deletedOccurrences ?? [])].includes(crmFirst + 7 * DAY)), 60_000, 'the CRM series in the mailbox with its deleted occurrence');
      // To Do: a CRM task reaches the mailbox's default list; done in Outlook, it is done in the CRM;
      // a task made in Outlook becomes a CRM task (To Do tells an app of no change: read by delta every pollInterval)
      const { rows: [task] } = await db.query<{ appointment_id: number }>(
        `insert into ${crmSchema}.appointment (associate_id, type, title, start_at, end_at, time_zone) select associate_id, 2, 'crm task', $2, $2, 'Europe/Berlin' from ${crmSchema}.associate where lower(email) = lower($1) returning appointment_id`,
        [mailbox, new Date(first).toISOString()]);
      const taskIn = (): ReturnType<typeof sandbox.store.itemsIn>[number] | undefined => sandbox.store.itemsIn(box, 'tasks').find((i) => i.props.Subject === 'crm task');
      await waitUntil(async () => !!taskIn(), 60_000, 'the CRM task in the mailbox\'s To Do list');
      const outlookTask = await ews.Task.Bind(service, new ews.ItemId(itemIdOfStored(sandbox, mailbox, taskIn()!.seq)));
      outlookTask.Status = ews.TaskStatus.Completed;
      await outlookTask.Update(ews.ConflictResolutionMode.AlwaysOverwrite);
      await waitUntil(async () => (await db.query<{ done: boolean }>(`select done from ${crmSchema}.appointment where appointment_id = $1`, [task.appointment_id])).rows[0]?.done === true, 60_000, 'the task done in the CRM');
      const made = new ews.Task(service);
      made.Subject = 'outlook task';
      made.DueDate = new ews.DateTime(first + 2 * DAY);
      await made.Save(new ews.FolderId(ews.WellKnownFolderName.Tasks));
      await waitUntil(async () => (await db.query(`select 1 from ${crmSchema}.appointment where title = 'outlook task' and type = 2`)).rows.length === 1, 60_000, 'the Outlook task in the CRM');
      await converged('after a series and a task each way');
    }
    if (o.mode === 'GraphNotify') {
      assert.equal(sandbox.graph!.subscriptions.size, MAILBOXES, 'one subscription per mailbox, the ones made before the SIGKILL renewed, not doubled');
      assert.ok(sandbox.graph!.subscriptions.delivered > 0, 'notifications were delivered');
      // through the hub: a validation message per subscription, then the notifications
      if (o.eventHub) assert.ok(sandbox.graph!.subscriptions.eventHubs.sent > MAILBOXES, `notifications went through the Event Hub (${sandbox.graph!.subscriptions.eventHubs.sent} messages)`);
    }

    if (o.reauthorization) {
      // the app's token is about to expire: Graph holds every subscription's notifications back
      // from now until it is reauthorized — with a 30-minute safety poll, only the sync's
      // reauthorization and the delta round after it bring the users' next changes in
      // (the lifecycle notification arrives after the users' changes, as a delivery retried does)
      assert.equal(((await (await control('reauthorization-required', { graceSeconds: 0, tell: false })).json()) as { subscriptions: number }).subscriptions, MAILBOXES);
      await usersAct(10);
      assert.ok(sandbox.graph!.subscriptions.pausedDrops > 0, 'notifications were held back');
      assert.equal(((await (await control('reauthorization-required', { graceSeconds: 0 })).json()) as { told: number }).told, MAILBOXES);
      await converged('after reauthorizationRequired');
      assert.equal(sandbox.graph!.subscriptions.reauthorized, MAILBOXES, 'each subscription reauthorized once');
      assert.equal(sandbox.graph!.subscriptions.paused, 0, 'no subscription left waiting');
    }
    if (o.faults) {
      // Graph's faults while users go on: every subscription removed (told by lifecycle
      // notifications), notifications dropped for 10 s, every delta token forgotten
      // (syncStateNotFound) and a 429 storm
      const deltasBefore = sandbox.graph!.requests.get('GET calendarview/delta') ?? 0;
      assert.equal((await control('drop-notifications', { seconds: 10 })).status, 200);
      assert.equal((await control('lose-delta-tokens', {})).status, 200);
      assert.equal((await control('throttle', { probability: 0.3, retryAfterSeconds: 1 })).status, 200);
      await usersAct(12);
      assert.equal((await control('remove-subscriptions', {})).status, 200);
      await usersAct(12);
      // the storm lasts until it has hit the sync a few times
      await waitUntil(() => sandbox.graph!.throttled >= 5, 90_000, 'the storm to answer five 429s');
      await control('throttle', { probability: 0 });
      await converged('after removed subscriptions, dropped notifications, lost delta tokens and a 429 storm');
      assert.ok(sandbox.graph!.subscriptions.dropped > 0, 'notifications were dropped');
      assert.ok((sandbox.graph!.requests.get('GET calendarview/delta') ?? 0) > deltasBefore + MAILBOXES, 'every mailbox read its window again');
      const metrics = await (await fetch(`${service.opsUrl}/metrics`)).text();
      assert.ok(Number(/^ecs_graph_throttled_total (\d+)/m.exec(metrics)?.[1] ?? 0) > 0, 'the sync counted the 429s it waited out');
    }
    if (o.faults && o.mode === 'GraphNotify') {
      // all removed at once, soon after they were made: Exchange "keeps losing subscriptions", so
      // one probe is made first and the rest follow once it has held for a minute (the safety poll
      // carried the changes meanwhile)
      const removedAt = Date.now();
      await waitUntil(() => sandbox.graph!.subscriptions.size === MAILBOXES, 180_000, 'every removed subscription made again');
      console.log(`# GraphNotify: every removed subscription made again ${Math.round((Date.now() - removedAt) / 1000)} s after the check began`);
    }
    const status = await (await fetch(`${service.opsUrl}/status`)).json() as { service: { advise: string }; dlq: Record<string, number> };
    assert.equal(status.service.advise, o.mode);
    assert.deepEqual(Object.values(status.dlq), [0, 0], 'nothing parked');
    assert.ok((sandbox.graph!.requests.get('GET calendarview/delta') ?? 0) > 0, 'the sync read the mailboxes through Graph');
    assert.equal(sandbox.stats.requestsByOperation.get('SyncFolderItems') ?? 0, 0, 'and never through EWS');
  } finally {
    await service?.stop('SIGTERM');
    await sandbox.close();
    await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
    await db.close();
  }
}

describe('Microsoft Graph: the service on real parts', () => {
  it('GraphNotify: users on both sides, a SIGKILL halfway; then subscriptions removed, notifications dropped, delta tokens lost and a 429 storm — every event ends with one row at its version, none left over, no delete lost', { timeout: 300_000 }, async () => {
    // the safety poll is long: notifications, not polls, carry the changes — but for the 10 s they are dropped
    await scenario({ mode: 'GraphNotify', graph: 'safetyPoll="20s"', faults: true });
  });

  it('GraphNotify through an Event Hub (no inbound port): users on both sides, then every subscription told reauthorizationRequired — every event ends with one row at its version, none left over, no delete lost', { timeout: 180_000 }, async () => {
    // a safety poll longer than the test: after the first read, only the hub's notifications carry the changes
    await scenario({ mode: 'GraphNotify', graph: 'safetyPoll="30m"', faults: false, operations: 20, eventHub: true, reauthorization: true });
  });

  it('GraphDelta: users on both sides, then a series each way with a deleted occurrence — every event ends with one row at its version, none left over, no delete lost', { timeout: 180_000 }, async () => {
    // few random users here (GraphNotify's scenario and the convergence test have many): the delta
    // reads are the same, only their trigger differs
    await scenario({ mode: 'GraphDelta', graph: 'pollInterval="5s"', faults: false, operations: 8, series: true });
  });
});

function itemIdOfStored(sandbox: Awaited<ReturnType<typeof startSandbox>>, mailbox: string, seq: number): string {
  return itemIdOf(sandbox.store.byEmail(mailbox)!.index, seq);
}

interface Agreement {
  events: number;
  rows: number;
  /** Events with no live mapping or whose row is gone. */
  missing: number;
  /** Mappings at an older version than the event's. */
  stale: number;
  /** Live mappings of events that no longer exist. */
  ghosts: number;
  /** CRM rows no live mapping points at (a duplicate). */
  unlinked: number;
  /** Rows whose title is not their event's subject. */
  subjects: number;
}

/** The sandbox's calendars (Graph ids) against the sync's mappings and the CRM's rows. */
async function agreement(db: PgDatabase, sandbox: Awaited<ReturnType<typeof startSandbox>>, crmSchema: string, stateSchema: string, folders: readonly string[]): Promise<Agreement> {
  const { rows: mappings } = await db.query<{ mailbox: string; item_id: string; crm_id: string; change_key: string }>(`select mailbox, item_id, crm_id, change_key from ${stateSchema}.item_map where not deleted`);
  const { rows: crm } = await db.query<{ appointment_id: number; title: string }>(`select appointment_id, title from ${crmSchema}.appointment`);
  const titles = new Map(crm.map((r) => [`appointment:${r.appointment_id}`, r.title]));
  const byItem = new Map(mappings.map((m) => [`${m.mailbox}|${m.item_id}`, m]));
  const result: Agreement = { events: 0, rows: crm.length, missing: 0, stale: 0, ghosts: 0, unlinked: 0, subjects: 0 };
  const live = new Set<string>();
  for (const mailbox of sandbox.store.all()) {
    for (const item of folders.flatMap((f) => sandbox.store.itemsIn(mailbox, f))) {
      result.events++;
      const id = graphIdOf(mailbox.index, item.seq);
      live.add(`${mailbox.address}|${id}`);
      const m = byItem.get(`${mailbox.address}|${id}`);
      if (!m || !titles.has(m.crm_id)) result.missing++;
      else if (m.change_key !== changeKeyOf(item.version)) result.stale++;
      else if (titles.get(m.crm_id) !== String(item.props.Subject ?? '')) result.subjects++;
    }
  }
  result.ghosts = mappings.filter((m) => !live.has(`${m.mailbox}|${m.item_id}`)).length;
  const linked = new Set(mappings.map((m) => m.crm_id));
  result.unlinked = [...titles.keys()].filter((r) => !linked.has(r)).length;
  return result;
}
