// Convergence: seeded random creates, edits, deletes and recurrence exceptions on both sides
// at once — users in Outlook (EWS, impersonated) and in the CRM (SQL) — over dozens of
// mailboxes, with the service (a child process, real Kafka, PostgreSQL) SIGKILLed halfway
// and started again. At quiescence the CRM and the mailboxes agree item by item: one row
// per item with the same subject and times, no duplicates, no delete lost, a series'
// modified occurrences as its exception rows, and a bounded number of messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { checkAgreement, fetchInventory } from '../../../bench/lib/agreement.js';
import { initReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { prng } from '../../../src/sandbox/prng.js';
import { PgDatabase } from '../../../src/state/index.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, writeRealPartsConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { waitUntil } from '../../helpers/source-harness.js';

const MAILBOXES = 24;
const OPERATIONS = 300;
const DAY = 86_400_000;

interface Tally {
  exchange: Record<string, number>;
  crm: Record<string, number>;
  failed: number;
}

/** The users of both sides, acting at random (seeded). */
class Users {
  private readonly random: () => number;
  private n = 0;
  readonly tally: Tally = { exchange: {}, crm: {}, failed: 0 };
  readonly deletedRows = new Set<number>();
  readonly deletedItems = new Set<string>();

  constructor(private readonly sandbox: Sandbox, private readonly db: PgDatabase, private readonly crm: string, seed: number) {
    this.random = prng(seed);
  }

  private pick<T>(list: readonly T[]): T | undefined {
    return list.length ? list[Math.floor(this.random() * list.length)] : undefined;
  }

  private when(): { start: number; end: number } {
    const start = Date.parse('2026-12-01T07:00:00Z') + Math.floor(this.random() * 40) * DAY + Math.floor(this.random() * 10) * 3_600_000;
    return { start, end: start + 3_600_000 };
  }

  async act(): Promise<void> {
    const side = this.random() < 0.5 ? 'exchange' : 'crm';
    const r = this.random();
    const kind = r < 0.35 ? 'create' : r < 0.75 ? 'edit' : r < 0.9 ? 'delete' : 'occurrence';
    try {
      const done = side === 'exchange' ? await this.inExchange(kind) : await this.inCrm(kind);
      if (done) (this.tally[side][done] = (this.tally[side][done] ?? 0) + 1);
    } catch {
      this.tally.failed++; // e.g. an item deleted by the sync a moment before: a user would see the same
    }
  }

  private async inExchange(kind: string): Promise<string | undefined> {
    const mailbox = this.pick(this.sandbox.store.all().slice(1))!;
    const service = ewsService(this.sandbox.url, mailbox.address);
    const items = this.sandbox.store.itemsIn(mailbox, 'calendar');
    const n = ++this.n;
    if (kind === 'create' || !items.length) {
      const item = new ews.Appointment(service);
      const { start, end } = this.when();
      item.Subject = `E${n}`;
      item.Start = new ews.DateTime(start);
      item.End = new ews.DateTime(end);
      item.StartTimeZone = ews.TimeZoneInfo.FindSystemTimeZoneById('W. Europe Standard Time');
      const series = this.random() < 0.2;
      if (series) item.Recurrence = new (ews.Recurrence.DailyPattern as unknown as new (s: ews.DateTime, i: number) => ews.Recurrence)(new ews.DateTime(start - (start % DAY)), 1);
      if (series) item.Recurrence.NumberOfOccurrences = 5;
      await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
      return series ? 'create-series' : 'create';
    }
    const target = this.pick(items)!;
    const itemId = itemIdOf(mailbox.index, target.seq);
    if (kind === 'delete') {
      await service.DeleteItems([new ews.ItemId(itemId)], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      this.deletedItems.add(itemId);
      return 'delete';
    }
    if (kind === 'occurrence') {
      const series = this.pick(items.filter((i) => i.props.Recurrence !== undefined));
      if (!series) return undefined;
      const occurrence = await ews.Appointment.BindToOccurrence(service, new ews.ItemId(itemIdOf(mailbox.index, series.seq)), 2 + Math.floor(this.random() * 3));
      if (this.random() < 0.5) {
        await occurrence.Delete(ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone);
        return 'delete-occurrence';
      }
      occurrence.Start = new ews.DateTime(occurrence.Start.TotalMilliSeconds + 1_800_000);
      occurrence.End = new ews.DateTime(occurrence.End.TotalMilliSeconds + 1_800_000);
      await occurrence.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      return 'move-occurrence';
    }
    const item = await ews.Appointment.Bind(service, new ews.ItemId(itemId));
    // trimmed: the subject read back from Exchange loses trailing blanks (ews-javascript-api trims element text)
    item.Subject = `E${n} (was ${item.Subject})`.slice(0, 60).trimEnd();
    await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    return 'edit';
  }

  private async inCrm(kind: string): Promise<string | undefined> {
    const s = this.crm;
    const n = ++this.n;
    const { rows } = await this.db.query<{ appointment_id: number; associate_id: number; series_id: number | null }>(
      `select appointment_id, associate_id, series_id from ${s}.appointment where associate_id > 1 order by appointment_id`,
    );
    const mains = rows.filter((r) => r.series_id === null);
    if (kind === 'create' || !mains.length) {
      const { start, end } = this.when();
      const associate = 2 + Math.floor(this.random() * (MAILBOXES - 1));
      const series = this.random() < 0.2;
      await this.db.query(
        `insert into ${s}.appointment (associate_id, type, title, start_at, end_at, time_zone, recurrence_rule) values ($1, 1, $2, $3, $4, 'Europe/Berlin', $5)`,
        [associate, `C${n}`, new Date(start), new Date(end), series ? 'RRULE:FREQ=WEEKLY;COUNT=4' : null],
      );
      return series ? 'create-series' : 'create';
    }
    if (kind === 'occurrence') {
      const exception = this.pick(rows.filter((r) => r.series_id !== null));
      if (!exception) return undefined;
      await this.db.query(`update ${s}.appointment set title = $2 where appointment_id = $1`, [exception.appointment_id, `C${n} (exception)`]);
      return 'edit-exception';
    }
    const target = this.pick(mains)!;
    if (kind === 'delete') {
      await this.db.query(`delete from ${s}.appointment where appointment_id = $1`, [target.appointment_id]);
      this.deletedRows.add(target.appointment_id);
      return 'delete';
    }
    await this.db.query(`update ${s}.appointment set title = $2 || ' (was ' || title || ')', start_at = start_at + interval '30 minutes', end_at = end_at + interval '30 minutes' where appointment_id = $1`,
      [target.appointment_id, `C${n}`]);
    return 'edit';
  }
}

/** Items whose CRM row disagrees in subject or times. */
async function contentMismatches(sandbox: Sandbox, db: PgDatabase, crm: string, state: string): Promise<string[]> {
  const { rows } = await db.query<{ mailbox: string; item_id: string; title: string; start_at: Date; end_at: Date }>(
    `select m.mailbox, m.item_id, a.title, a.start_at, a.end_at from ${state}.item_map m join ${crm}.appointment a on 'appointment:' || a.appointment_id = m.crm_id
      where not m.deleted and position('@' in m.item_id) = 0`,
  );
  const bad: string[] = [];
  for (const r of rows) {
    const mailbox = sandbox.store.byEmail(r.mailbox)!;
    const item = sandbox.store.itemsIn(mailbox, 'calendar').find((i) => itemIdOf(mailbox.index, i.seq) === r.item_id);
    if (!item) continue; // counted by checkAgreement
    const same = item.props.Subject === r.title && item.props.Start === r.start_at.toISOString().replace('.000Z', 'Z') && item.props.End === r.end_at.toISOString().replace('.000Z', 'Z');
    if (!same) bad.push(`${r.mailbox} ${r.item_id}: "${String(item.props.Subject)}" ${String(item.props.Start)} vs "${r.title}" ${r.start_at.toISOString()}`);
  }
  return bad;
}

describe('convergence of both directions', () => {
  it(`${OPERATIONS} random operations on both sides over ${MAILBOXES} mailboxes, the service SIGKILLed halfway: the CRM and the mailboxes agree item by item`, { timeout: 420_000 }, async () => {
    const t0 = Date.now();
    const phase = (what: string): void => console.log(`# convergence: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const sandbox = await startSandbox({ mailboxes: MAILBOXES, itemsPerMailbox: 2, seed: 4242, limits: { heartbeatMs: 500 } });
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    const prefix = uniqueName('conv') + '.';
    const kafka = new Kafka({ clientId: 'convergence-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    let service: ServiceProcess | undefined;
    try {
      await initReferenceCrm(db, crmSchema);
      await seedDemoAssociates(db, crmSchema, sandbox.store.all().map((m) => m.address));
      const { file } = writeRealPartsConfig({
        ewsUrl: sandbox.url, serviceAccount: sandbox.serviceAccount, postgresUrl: postgresUrl(), crmSchema, stateSchema, brokers: kafkaBrokers(),
        topicPrefix: prefix, partitions: 4, crmPollInterval: '200ms', extra: '<sync conflict="last-writer-wins"/>',
      });
      const start = (): Promise<ServiceProcess> => startServiceProcess(file, { ECS_TEST_EWS_PASSWORD: 'sandbox' });
      service = await start();
      const inventory = (): ReturnType<typeof fetchInventory> => fetchInventory(sandbox.url.replace('/EWS/Exchange.asmx', ''));
      const agreed = async (): Promise<boolean> => {
        const a = await checkAgreement(db, crmSchema, stateSchema, await inventory());
        return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0 && a.items > 0;
      };
      await waitUntil(agreed, 60_000, 'the first sync');
      phase('first sync done');
      await admin.connect();
      const messages = async (): Promise<number> => {
        let total = 0;
        for (const topic of ['exchange.changes', 'crm.changes']) for (const p of await admin.fetchTopicOffsets(prefix + topic)) total += Number(p.high);
        return total;
      };
      const before = await messages();

      const users = new Users(sandbox, db, crmSchema, 77);
      let restarted: Promise<void> | undefined;
      for (let i = 0; i < OPERATIONS; i++) {
        await users.act();
        if (i === OPERATIONS / 2) {
          await service.stop('SIGKILL');
          phase(`service SIGKILLed after ${i} operations`);
          // the users go on while it is down and while it starts again
          restarted = start().then((s) => {
            service = s;
            phase('service started again');
          });
        }
        await new Promise((r) => setTimeout(r, 40));
      }
      phase(`${OPERATIONS} operations done: ${JSON.stringify(users.tally)}`);
      await restarted;

      // quiescence: both sides agree and nothing has been published for 3 s (the echoes of
      // the last writes are in); a ping-pong would never get there
      let last = '';
      let count = -1;
      let quietSince = Date.now();
      await waitUntil(async () => {
        const now = await messages();
        if (now !== count) [count, quietSince] = [now, Date.now()];
        const a = await checkAgreement(db, crmSchema, stateSchema, await inventory());
        const content = await contentMismatches(sandbox, db, crmSchema, stateSchema);
        last = JSON.stringify({ ...a, content: content.slice(0, 5) });
        return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0 && content.length === 0 && Date.now() - quietSince >= 3_000;
      }, 180_000, 'the CRM and the mailboxes to agree').catch(async (err: Error) => {
        const inv = await inventory();
        const { rows: ghostRows } = await db.query<{ mailbox: string; item_id: string }>(`select m.*, (select count(*) from ${crmSchema}.appointment a where 'appointment:' || a.appointment_id = m.crm_id) as row_exists from ${stateSchema}.item_map m where not deleted and position('@' in item_id) = 0`);
        console.log('# DEBUG ghosts', JSON.stringify(ghostRows.filter((g) => inv[g.mailbox] && !(g.item_id in inv[g.mailbox])).map((g) => ({ ...g, deletedByTest: users.deletedItems.has(g.item_id) }))));
        const { rows } = await db.query(`select a.appointment_id, a.associate_id, a.title, a.series_id, a.original_start, a.recurrence_rule,
            (select string_agg(l.op || ':' || l.origin, ',' order by l.change_id) from ${crmSchema}.change_log l where l.record_id = a.appointment_id and l.table_name = 'appointment') as log,
            (select string_agg(m.item_id || ':' || m.deleted, ',') from ${stateSchema}.item_map m where m.crm_id = 'appointment:' || a.appointment_id) as maps
          from ${crmSchema}.appointment a where not exists (select 1 from ${stateSchema}.item_map m where m.crm_id = 'appointment:' || a.appointment_id and not m.deleted)`);
        throw new Error(`${err.message}: ${last} ${JSON.stringify(rows)}`);
      });
      phase(`agreed and quiet: ${last}`);

      // no duplicates: every live row belongs to exactly one item, every item has one row
      const { rows: dup } = await db.query<{ n: number }>(`select count(*)::int as n from (select crm_id from ${stateSchema}.item_map where not deleted group by crm_id having count(*) > 1) d`);
      assert.equal(dup[0].n, 0, 'no row mapped to two items');
      // no delete lost: a deleted row's item is gone from every mailbox, a deleted item's row is gone
      const stamped = new Set(sandbox.store.all().flatMap((m) => sandbox.store.itemsIn(m, 'calendar').flatMap((i) => [...i.extended.values()].map((v) => String(v.value)))));
      const resurrected = [...users.deletedRows].filter((id) => stamped.has(`appointment:${id}`));
      assert.deepEqual(resurrected, [], 'rows deleted in the CRM have no item');
      const { rows: liveRows } = await db.query<{ item_id: string }>(`select m.item_id from ${stateSchema}.item_map m join ${crmSchema}.appointment a on 'appointment:' || a.appointment_id = m.crm_id where not m.deleted`);
      assert.deepEqual(liveRows.filter((r) => users.deletedItems.has(r.item_id)), [], 'items deleted in Exchange have no row');
      // a series' modified occurrences are its exception rows
      for (const m of sandbox.store.all()) {
        for (const item of sandbox.store.itemsIn(m, 'calendar').filter((i) => i.modifiedOccurrences?.size)) {
          const { rows } = await db.query<{ n: number }>(
            `select count(*)::int as n from ${crmSchema}.appointment e join ${stateSchema}.item_map s on s.crm_id = 'appointment:' || e.series_id and not s.deleted where s.item_id = $1`, [itemIdOf(m.index, item.seq)],
          );
          if (rows[0].n !== item.modifiedOccurrences!.size) {
            const { rows: info } = await db.query(`select s.*, a.title, a.recurrence_rule, a.appointment_id, (select string_agg(l.op || ':' || l.origin, ',' order by l.change_id) from ${crmSchema}.change_log l where l.record_id = a.appointment_id and l.table_name = 'appointment') as log from ${stateSchema}.item_map s left join ${crmSchema}.appointment a on a.appointment_id = s.crm_id where s.item_id like $1`, [`${itemIdOf(m.index, item.seq)}%`]);
            console.log('# DEBUG', JSON.stringify(info), JSON.stringify([...item.modifiedOccurrences!.entries()]), item.props.Subject, item.version);
          }
          assert.equal(rows[0].n, item.modifiedOccurrences!.size, `exception rows of ${itemIdOf(m.index, item.seq)}`);
        }
      }
      const made = await messages() - before;
      phase(`${made} messages for ${OPERATIONS} operations (${(made / OPERATIONS).toFixed(2)} per operation)`);
      // each user change is one message on its side and at most one echo from the other
      // (more only where the crash made work repeat)
      assert.ok(made <= OPERATIONS * 3, `bounded message count: ${made} for ${OPERATIONS} operations`);
      assert.ok(users.tally.failed < OPERATIONS / 10, `most operations ran: ${JSON.stringify(users.tally)}`);
    } finally {
      await service?.stop('SIGTERM');
      await admin.disconnect().catch(() => undefined);
      await sandbox.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    }
  });
});
