import { CrmError } from '../shared/errors.js';
import type { ItemFields } from '../shared/item-fields.js';
import { formatUtc } from '../shared/time-zones.js';
import { assertIdentifier, type Database } from '../state/database.js';
import {
  crmRef, parseCrmRef, type ActivityKind, type CrmActivity, type CrmAssociate, type CrmChange, type CrmChangeBatch, type CrmChangeFeed,
  type CrmDirectory, type CrmPerson, type CrmPersonLink, type CrmPort, type CrmRecordVersion, type CrmRef, type CrmSelection, type CrmWriteOutcome,
} from './crm-port.js';
import { personColumns, personOf, type PersonRow } from './reference-person.js';

interface Row {
  appointment_id: number;
  associate_id: number;
  type: 1 | 2;
  title: string | null;
  description: string | null;
  location: string | null;
  start_at: Date | null;
  end_at: Date | null;
  time_zone: string | null;
  all_day: boolean;
  private: boolean;
  done: boolean;
  recurrence_rule: string | null;
  mother_id: number | null;
  contact_id: number | null;
  person_id: number | null;
  series_id: number | null;
  original_start: Date | null;
  updated: Date | null;
  updated_count: number;
  updated_by: string;
  activity_type: string | null;
  alarm: boolean | null;
  alarm_minutes: number | null;
}

interface LogRow extends Partial<Row> {
  change_id: string;
  ttime: Date;
  table_name: string;
  record_id: number;
  owner_id: number | null;
  op: 'c' | 'u' | 'd';
  origin: string;
  associate_email: string | null;
}

/** A gap in change ids younger than this may be a transaction still committing: wait for it. */
const GAP_GRACE_MS = 5_000;

const utc = (d: Date | null | undefined): string | undefined => (d ? formatUtc(new Date(d).getTime()) : undefined);
const ref = (entity: 'appointment' | 'person' | 'contact' | 'associate', id: number | null): CrmRef | null => (id === null || id === undefined ? null : crmRef(entity, id));

/** The numeric id of a ref of the given entity (the reference CRM's ids are serials). */
function idOf(r: CrmRef | null | undefined, entity: string): number | null {
  const parsed = parseCrmRef(r);
  if (!parsed || parsed.entity !== entity || !/^\d+$/.test(parsed.id)) return null;
  return Number(parsed.id);
}

/** The recurrence_rule column ("RRULE:…" and optional "EXDATE:…" lines) as the envelope's recurrence. */
function parseRuleColumn(text: string): NonNullable<ItemFields['recurrence']> {
  const lines = text.split(/\r?\n/);
  const rrule = (lines.find((l) => /^(RRULE:)?FREQ=/.test(l)) ?? '').replace(/^RRULE:/, '');
  const exdates = lines.filter((l) => l.startsWith('EXDATE')).flatMap((l) => l.slice(l.indexOf(':') + 1).split(','))
    .map((d) => d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  return { rrule: rrule || 'FREQ=DAILY;COUNT=1', exdates, exceptions: [] };
}

/** recurrence → the recurrence_rule column: "RRULE:…" and an "EXDATE:…" line. */
function ruleColumn(fields: ItemFields): string | null {
  const r = fields.recurrence;
  if (!r) return null;
  const exdates = r.exdates.map((d) => d.replace(/[-:]/g, '').replace(/\.\d+/, ''));
  return `RRULE:${r.rrule}${exdates.length ? `\nEXDATE:${exdates.join(',')}` : ''}`;
}

/** A row as the normalised fields both sides use. */
function activityOf(r: Row, ownerEmail: string | null): CrmActivity {
  const task = r.type === 2;
  const fields: ItemFields = {
    subject: r.title ?? '', body: r.description ?? undefined, location: r.location ?? undefined,
    ...(task ? { due: utc(r.end_at) ?? utc(r.start_at), start: utc(r.start_at), done: r.done } : { start: utc(r.start_at), end: utc(r.end_at) }),
    timeZone: r.time_zone ?? undefined, allDay: r.all_day, private: r.private,
    recurrence: r.recurrence_rule ? parseRuleColumn(r.recurrence_rule) : null,
    owner: crmRef('associate', r.associate_id), associateEmail: ownerEmail ?? undefined,
    contactRef: ref('contact', r.contact_id), personRef: ref('person', r.person_id), motherRef: ref('appointment', r.mother_id),
    seriesRef: ref('appointment', r.series_id), originalStart: utc(r.original_start), modified: utc(r.updated), version: String(r.updated_count),
    crmId: crmRef('appointment', r.appointment_id), crmType: r.activity_type ?? '',
    ...(!task && r.alarm !== null && r.alarm !== undefined ? { reminder: r.alarm ? (r.alarm_minutes ?? 15) : null } : {}),
  };
  for (const k of Object.keys(fields) as Array<keyof ItemFields>) if (fields[k] === undefined) delete fields[k];
  return {
    ref: crmRef('appointment', r.appointment_id), kind: task ? 'task' : 'appointment', owner: crmRef('associate', r.associate_id), ownerEmail: ownerEmail ?? undefined,
    fields, version: String(r.updated_count), writtenBySync: r.updated_by === 'sync',
  };
}

/**
 * The reference CRM — SuperOffice-shaped tables that `crm init` creates (reference-schema.ts)
 * — behind the CRM port, its change feed (the change_log table, woken by NOTIFY) and its
 * directory of associates. Every write runs in a transaction of its own that sets
 * ecs.origin = 'sync', so the triggers mark it as the sync's own: the row's updated_by, and
 * the change log's origin, which keeps it from being sent back to Exchange.
 */
export class ReferenceCrm implements CrmPort, CrmChangeFeed, CrmDirectory {
  private readonly s: string;
  readonly name: string;
  readonly identity: string;
  readonly description: string;

  /** `identity`: which CRM this is (see markerOf); by default the schema name alone. */
  constructor(private readonly db: Database, schema: string, identity?: string) {
    this.s = assertIdentifier(schema);
    this.name = schema;
    this.identity = identity ?? `reference:${schema}`;
    this.description = `active associates in ${schema}.associate`;
  }

  /**
   * This CRM's identity, stable across restarts and different for another database or schema
   * of the same name: a random id kept in the CRM schema (made once), with the database's name.
   * Without the right to create the table, the database and schema names alone.
   */
  static async markerOf(db: Database, schema: string): Promise<string> {
    const s = assertIdentifier(schema);
    const database = (await db.query<{ name: string }>('select current_database() as name')).rows[0]?.name ?? '';
    try {
      // made once even when instances start together: one at a time, under an advisory lock
      const id = await db.transaction(async (tx) => {
        if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`exchange-crm-sync:crm-identity:${s}`]);
        await tx.query(`create table if not exists ${s}.sync_identity (id text primary key)`);
        await tx.query(`insert into ${s}.sync_identity (id) select gen_random_uuid()::text where not exists (select 1 from ${s}.sync_identity)`);
        return (await tx.query<{ id: string }>(`select id from ${s}.sync_identity order by id limit 1`)).rows[0]?.id;
      });
      return `reference:${database}/${schema}#${id ?? ''}`;
    } catch {
      return `reference:${database}/${schema}`;
    }
  }

  // ── the change feed ──

  read(after: string | undefined, limit: number): Promise<CrmChangeBatch> {
    return this.guard('read the change log', async () => {
      const from = Number(after ?? 0);
      const n = Math.max(1, Math.floor(limit));
      const { rows } = await this.db.query<LogRow>(
        `select l.change_id, l.ttime, l.table_name, l.record_id, l.owner_id, l.op, l.origin, s.email as associate_email, a.*
           from ${this.s}.change_log l
           left join ${this.s}.appointment a on l.table_name = 'appointment' and a.appointment_id = l.record_id
           left join ${this.s}.associate s on s.associate_id = coalesce(a.associate_id, l.owner_id)
          where l.change_id > $1 order by l.change_id limit ${n}`,
        [from],
      );
      const usable = untilGap(rows, from);
      const persons = await this.personsById(usable.filter((r) => r.table_name === 'person' && r.op !== 'd').map((r) => r.record_id));
      const selectionIds = [...new Set(usable.filter((r) => r.table_name.startsWith('selection')).map((r) => r.record_id))];
      const selections = new Map((await Promise.all(selectionIds.map((id) => this.selection(crmRef('selection', id))))).filter((x): x is CrmSelection => !!x).map((x) => [x.ref, x]));
      // a selection's changes (a thousand members added at once) are one change: its last, carrying the selection as it is now
      const lastOfSelection = new Map<number, string>();
      for (const r of usable) if (r.table_name.startsWith('selection')) lastOfSelection.set(r.record_id, r.change_id);
      const changes: CrmChange[] = [];
      for (const r of usable) {
        const base = { op: r.op, time: new Date(r.ttime).getTime(), bySync: r.origin === 'sync', owner: ref('associate', r.owner_id), ownerEmail: r.associate_email, position: String(r.change_id) };
        if (r.table_name === 'appointment') {
          const activity = r.appointment_id !== null && r.appointment_id !== undefined ? activityOf(r as Row, r.associate_email) : undefined;
          changes.push({ ...base, ref: crmRef('appointment', r.record_id), kind: activity?.kind ?? 'appointment', activity });
        } else if (r.table_name === 'person') {
          const person = persons.get(r.record_id);
          changes.push({ ...base, ref: crmRef('person', r.record_id), kind: 'contact', person, ownerEmail: person?.ownerEmail ?? r.associate_email });
        } else if (r.table_name.startsWith('selection') && lastOfSelection.get(r.record_id) === r.change_id) {
          const selection = selections.get(crmRef('selection', r.record_id));
          changes.push({ ...base, ref: crmRef('selection', r.record_id), kind: 'selection-member', op: selection ? 'u' : 'd', bySync: false, owner: null, ownerEmail: null, selection });
        }
      }
      return {
        changes, position: usable.length ? String(usable[usable.length - 1].change_id) : after,
        more: rows.length === n && usable.length === rows.length,
      };
    });
  }

  onChange(wake: () => void): Promise<() => Promise<void>> {
    return this.db.listen(`${this.s}_changes`, wake);
  }

  // ── the directory ──

  activeAssociateEmails(): Promise<string[]> {
    return this.guard('list associates', async () => {
      const { rows } = await this.db.query<{ email: string }>(`select email from ${this.s}.associate where active and email is not null`);
      return rows.map((r) => r.email);
    });
  }

  mailboxHomes(): Promise<ReadonlyMap<string, 'on-premises' | 'online'>> {
    return this.guard('read mailbox homes', async () => {
      const { rows } = await this.db.query<{ email: string; home: 'on-premises' | 'online' }>(`select lower(email) as email, mailbox_home as home from ${this.s}.associate where active and email is not null and mailbox_home is not null`);
      return new Map(rows.map((r) => [r.email, r.home]));
    });
  }

  mailboxDirections(): Promise<ReadonlyMap<string, 'two-way' | 'to-crm' | 'to-exchange' | 'off'>> {
    return this.guard('read sync directions', async () => {
      const { rows } = await this.db.query<{ email: string; direction: 'two-way' | 'to-crm' | 'to-exchange' | 'off' }>(`select lower(email) as email, sync_direction as direction from ${this.s}.associate where email is not null and sync_direction is not null`);
      return new Map(rows.map((r) => [r.email, r.direction]));
    });
  }

  // ── the port ──

  associateByEmail(email: string): Promise<CrmAssociate | undefined> {
    return this.guard('find an associate', async () => {
      const { rows } = await this.db.query<{ associate_id: number; email: string }>(`select associate_id, email from ${this.s}.associate where lower(email) = lower($1) and active`, [email]);
      return rows[0] ? { ref: crmRef('associate', rows[0].associate_id), email: rows[0].email } : undefined;
    });
  }

  get(r: CrmRef): Promise<CrmActivity | undefined> {
    const id = idOf(r, 'appointment');
    if (id === null) return Promise.resolve(undefined);
    return this.guard('read an appointment', async () => {
      const { rows } = await this.db.query<Row & { email: string | null }>(
        `select a.*, s.email from ${this.s}.appointment a left join ${this.s}.associate s using (associate_id) where a.appointment_id = $1`, [id]);
      return rows[0] ? activityOf(rows[0], rows[0].email) : undefined;
    });
  }

  findStamped(stamp: string): Promise<CrmActivity | undefined> {
    return this.guard('find a stamped appointment', async () => {
      const { rows } = await this.db.query<Row & { email: string | null }>(
        `select a.*, s.email from ${this.s}.appointment a left join ${this.s}.associate s using (associate_id) where a.sync_stamp = $1 order by a.appointment_id limit 1`, [stamp]);
      return rows[0] ? activityOf(rows[0], rows[0].email) : undefined;
    });
  }

  personByEmail(emails: readonly string[]): Promise<CrmPersonLink | undefined> {
    if (!emails.length) return Promise.resolve(undefined);
    return this.guard('find a person', async () => {
      const lower = emails.map((e) => e.toLowerCase());
      const { rows } = await this.db.query<{ person_id: number; contact_id: number | null }>(
        `select person_id, contact_id from ${this.s}.person where lower(email) = any($1::text[]) order by array_position($1::text[], lower(email)), person_id limit 1`, [lower],
      );
      return rows[0] ? { personRef: crmRef('person', rows[0].person_id), contactRef: ref('contact', rows[0].contact_id) } : undefined;
    });
  }

  exceptions(seriesRef: CrmRef): Promise<Map<string, CrmActivity>> {
    const id = idOf(seriesRef, 'appointment');
    if (id === null) return Promise.resolve(new Map());
    return this.guard('read a series\' exceptions', async () => {
      const { rows } = await this.db.query<Row>(`select * from ${this.s}.appointment where series_id = $1`, [id]);
      return new Map(rows.map((r) => [utc(r.original_start) ?? '', activityOf(r, null)]));
    });
  }

  /** An exception row of the reference CRM is a record of its own: the series covers the occurrence without it. */
  restoreOccurrence(r: CrmRef): Promise<boolean> {
    return this.delete(r);
  }

  setMother(r: CrmRef, motherRef: CrmRef): Promise<string | undefined> {
    const id = idOf(r, 'appointment');
    const mother = idOf(motherRef, 'appointment');
    if (id === null || mother === null) return Promise.resolve(undefined);
    return this.write('join a meeting', async (tx) => {
      const { rows } = await tx.query<{ updated_count: number }>(`update ${this.s}.appointment set mother_id = $2 where appointment_id = $1 returning updated_count`, [id, mother]);
      return rows[0] ? String(rows[0].updated_count) : undefined;
    });
  }

  create(owner: CrmRef, kind: ActivityKind, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    const associate = idOf(owner, 'associate');
    if (associate === null) return Promise.reject(new CrmError('NOT_AN_ASSOCIATE', `${owner} is not an associate of the reference CRM`));
    const type = kind === 'task' ? 2 : 1;
    return this.write('create an appointment', async (tx) => {
      const { rows } = await tx.query<{ appointment_id: number; updated_count: number }>(
        `insert into ${this.s}.appointment (associate_id, type, title, description, location, start_at, end_at, time_zone, all_day, private, done, recurrence_rule, person_id, contact_id, mother_id, series_id, original_start, sync_stamp, activity_type, alarm, alarm_minutes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) returning appointment_id, updated_count`,
        [associate, type, ...values(type, fields), idOf(fields.personRef, 'person'), idOf(fields.contactRef, 'contact'), idOf(fields.motherRef, 'appointment'),
          idOf(fields.seriesRef, 'appointment'), fields.originalStart ?? null, stamp, fields.crmType || null, ...alarmOf(fields)],
      );
      return { ref: crmRef('appointment', rows[0].appointment_id), version: String(rows[0].updated_count) };
    });
  }

  update(r: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome> {
    const id = idOf(r, 'appointment');
    if (id === null) return Promise.resolve({ status: 'missing' });
    return this.write('update an appointment', async (tx) => {
      const { rows: current } = await tx.query<Row & { email: string | null }>(
        `select a.*, s.email from ${this.s}.appointment a left join ${this.s}.associate s using (associate_id) where a.appointment_id = $1 for update of a`, [id]);
      if (!current[0]) return { status: 'missing' } as const;
      if (ifVersion !== undefined && String(current[0].updated_count) !== ifVersion) return { status: 'conflict', current: activityOf(current[0], current[0].email) } as const;
      const { rows } = await tx.query<{ updated_count: number }>(
        // links are only ever added from Exchange: a person linked by hand in the CRM stays
        `update ${this.s}.appointment set title = $2, description = $3, location = $4, start_at = $5, end_at = $6, time_zone = $7, all_day = $8, private = $9, done = $10, recurrence_rule = $11,
                person_id = coalesce($12, person_id), contact_id = coalesce($13, contact_id),
                -- the type is written only when the write names one ('': the default, none)
                activity_type = case when $14::boolean then nullif($15, '') else activity_type end,
                -- the alarm likewise: only when the write says (an item whose reminder is not known leaves it)
                alarm = case when $16::boolean then $17 else alarm end, alarm_minutes = case when $16::boolean then $18 else alarm_minutes end
          where appointment_id = $1 returning updated_count`,
        [id, ...values(current[0].type, fields), idOf(fields.personRef, 'person'), idOf(fields.contactRef, 'contact'), fields.crmType !== undefined, fields.crmType ?? '',
          fields.reminder !== undefined, ...alarmOf(fields)],
      );
      return { status: 'written', version: String(rows[0].updated_count) } as const;
    });
  }

  delete(r: CrmRef): Promise<boolean> {
    const id = idOf(r, 'appointment');
    if (id === null) return Promise.resolve(false);
    return this.write('delete an appointment', async (tx) => {
      const result = await tx.query(`delete from ${this.s}.appointment where appointment_id = $1`, [id]);
      return result.rowCount > 0;
    });
  }

  compareVersions(a: string, b: string): number {
    return Number(a) - Number(b);
  }

  // ── persons ──

  private async personsById(ids: readonly number[]): Promise<Map<number, CrmPerson>> {
    if (!ids.length) return new Map();
    const { rows } = await this.db.query<PersonRow>(
      `select p.*, c.name as company, s.email as owner_email from ${this.s}.person p left join ${this.s}.contact c using (contact_id)
         left join ${this.s}.associate s on s.associate_id = p.associate_id where p.person_id = any($1::int[])`, [[...new Set(ids)]]);
    return new Map(rows.map((r) => [r.person_id, personOf(r)]));
  }

  person(r: CrmRef): Promise<CrmPerson | undefined> {
    const id = idOf(r, 'person');
    if (id === null) return Promise.resolve(undefined);
    return this.guard('read a person', async () => (await this.personsById([id])).get(id));
  }

  persons(refs: readonly CrmRef[]): Promise<CrmPerson[]> {
    const ids = refs.map((r) => idOf(r, 'person')).filter((id): id is number => id !== null);
    return this.guard('read persons', async () => [...(await this.personsById(ids)).values()]);
  }

  findStampedPerson(stamp: string): Promise<CrmPerson | undefined> {
    return this.guard('find a stamped person', async () => {
      const { rows } = await this.db.query<{ person_id: number }>(`select person_id from ${this.s}.person where sync_stamp = $1 order by person_id limit 1`, [stamp]);
      return rows[0] ? (await this.personsById([rows[0].person_id])).get(rows[0].person_id) : undefined;
    });
  }

  createPerson(owner: CrmRef, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    const associate = idOf(owner, 'associate');
    if (associate === null) return Promise.reject(new CrmError('NOT_AN_ASSOCIATE', `${owner} is not an associate of the reference CRM`));
    return this.write('create a person', async (tx) => {
      const company = await this.companyOf(tx, fields);
      const columns = personColumns(fields);
      const names = Object.keys(columns);
      const { rows } = await tx.query<{ person_id: number; updated_count: number }>(
        `insert into ${this.s}.person (${names.join(', ')}, contact_id, associate_id, sync_stamp) values (${names.map((_, i) => `$${i + 1}`).join(', ')}, $${names.length + 1}, $${names.length + 2}, $${names.length + 3})
         returning person_id, updated_count`, [...Object.values(columns), company, associate, stamp]);
      return { ref: crmRef('person', rows[0].person_id), version: String(rows[0].updated_count) };
    });
  }

  updatePerson(r: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome<CrmPerson>> {
    const id = idOf(r, 'person');
    if (id === null) return Promise.resolve({ status: 'missing' });
    return this.write('update a person', async (tx) => {
      const { rows: current } = await tx.query<{ updated_count: number }>(`select updated_count from ${this.s}.person where person_id = $1 for update`, [id]);
      if (!current[0]) return { status: 'missing' } as const;
      if (ifVersion !== undefined && String(current[0].updated_count) !== ifVersion) {
        const now = (await this.personsById([id])).get(id)!;
        return { status: 'conflict', current: now } as const;
      }
      const company = await this.companyOf(tx, fields);
      const columns = personColumns(fields);
      const names = Object.keys(columns);
      const { rows } = await tx.query<{ updated_count: number }>(
        `update ${this.s}.person set ${names.map((n, i) => `${n} = $${i + 2}`).join(', ')}, contact_id = $${names.length + 2} where person_id = $1 returning updated_count`,
        [id, ...Object.values(columns), company]);
      return { status: 'written', version: String(rows[0].updated_count) } as const;
    });
  }

  deletePerson(r: CrmRef): Promise<boolean> {
    const id = idOf(r, 'person');
    if (id === null) return Promise.resolve(false);
    return this.write('delete a person', async (tx) => (await tx.query(`delete from ${this.s}.person where person_id = $1`, [id])).rowCount > 0);
  }

  /** The company a card names: the contact of that name (the oldest, if several), made if there is none. */
  private async companyOf(tx: Database, fields: ItemFields): Promise<number | null> {
    const name = fields.contact?.company?.trim();
    if (!name) return null;
    const { rows } = await tx.query<{ contact_id: number }>(`select contact_id from ${this.s}.contact where lower(name) = lower($1) order by contact_id limit 1`, [name]);
    if (rows[0]) return rows[0].contact_id;
    const made = await tx.query<{ contact_id: number }>(`insert into ${this.s}.contact (name) values ($1) returning contact_id`, [name]);
    return made.rows[0].contact_id;
  }

  recordsOf(owner: CrmRef): Promise<CrmRecordVersion[]> {
    const associate = idOf(owner, 'associate');
    if (associate === null) return Promise.resolve([]);
    return this.guard('list an associate\'s records', async () => {
      const { rows } = await this.db.query<{ ref: string; kind: 'appointment' | 'task' | 'contact'; version: number; updated_by: string }>(
        `select 'appointment:' || appointment_id as ref, case type when 2 then 'task' else 'appointment' end as kind, updated_count as version, updated_by
           from ${this.s}.appointment where associate_id = $1 and series_id is null
         union all
         select 'person:' || person_id, 'contact', updated_count, updated_by from ${this.s}.person where associate_id = $1`, [associate]);
      return rows.map((r) => ({ ref: r.ref, kind: r.kind, version: String(r.version), writtenBySync: r.updated_by === 'sync' }));
    });
  }

  // ── selections ──

  selection(r: CrmRef): Promise<CrmSelection | undefined> {
    const id = idOf(r, 'selection');
    if (id === null) return Promise.resolve(undefined);
    return this.guard('read a selection', async () => {
      const { rows } = await this.db.query<{ selection_id: number; name: string; target: string; subscribers: string[] | null }>(
        `select l.selection_id, l.name, l.target,
                array(select a.email from ${this.s}.selection_subscriber b join ${this.s}.associate a using (associate_id) where b.selection_id = l.selection_id and a.active and a.email is not null order by a.email) as subscribers
           from ${this.s}.selection l where l.selection_id = $1`, [id]);
      const row = rows[0];
      return row ? { ref: crmRef('selection', row.selection_id), name: row.name, target: row.target, subscribers: row.subscribers ?? [] } : undefined;
    });
  }

  selectionMembers(r: CrmRef): Promise<CrmRef[]> {
    const id = idOf(r, 'selection');
    if (id === null) return Promise.resolve([]);
    return this.guard('read a selection\'s members', async () => {
      const { rows } = await this.db.query<{ person_id: number }>(`select person_id from ${this.s}.selection_member where selection_id = $1 order by person_id`, [id]);
      return rows.map((x) => crmRef('person', x.person_id));
    });
  }

  /** A write of the sync's own: one transaction marked origin "sync". */
  private write<T>(what: string, work: (tx: Database) => Promise<T>): Promise<T> {
    return this.guard(what, () => this.db.transaction(async (tx) => {
      await tx.query(`select set_config('ecs.origin', 'sync', true)`);
      return work(tx);
    }));
  }

  /** Every failure leaves the adapter as a CrmError that keeps the database's verdict on retrying. */
  private async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof CrmError) throw err;
      const e = err as { code?: string; retriable?: boolean; message?: string };
      throw new CrmError(String(e.code ?? 'FAILED').replace(/^CRM_/, ''), `reference CRM ${this.name}: could not ${what}: ${e.message ?? String(err)}`, { retriable: e.retriable === true, cause: err });
    }
  }
}

/** alarm and alarm_minutes of a reminder (not known: null, null). */
const alarmOf = (f: ItemFields): [boolean | null, number | null] => (f.reminder === undefined ? [null, null] : f.reminder === null ? [false, null] : [true, f.reminder]);

/** The columns a write sets, in order, from the fields (a task's due is its end). */
function values(type: 1 | 2, f: ItemFields): unknown[] {
  const start = type === 2 ? (f.start ?? f.due) : f.start;
  const end = type === 2 ? (f.due ?? f.end) : f.end;
  return [f.subject ?? '', f.body ?? null, f.location ?? null, start ?? null, end ?? null, f.timeZone ?? null, f.allDay ?? false, f.private ?? false, f.done ?? false, ruleColumn(f)];
}

/** Change ids come from a sequence, and transactions commit out of order: stop before a fresh gap. */
function untilGap(rows: LogRow[], after: number): LogRow[] {
  let expected = after + 1;
  for (let i = 0; i < rows.length; i++) {
    const id = Number(rows[i].change_id);
    if (id !== expected && Date.now() - new Date(rows[i].ttime).getTime() < GAP_GRACE_MS) return rows.slice(0, i);
    expected = id + 1;
  }
  return rows;
}
