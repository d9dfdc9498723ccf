import type { ItemFields } from '../shared/item-fields.js';
import { formatUtc } from '../shared/time-zones.js';
import { assertIdentifier, type Database } from '../state/database.js';
import type { CrmActivity, CrmChange, CrmChangeFeed, CrmPort } from './crm-port.js';

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

const utc = (d: Date | null | undefined): string | undefined => (d ? formatUtc(new Date(d).getTime()) : undefined);

/** The recurrence_rule column ("RRULE:…" and optional "EXDATE:…" lines) as the envelope's recurrence. */
function parseRuleColumn(text: string): NonNullable<ItemFields['recurrence']> {
  const lines = text.split(/\r?\n/);
  const rrule = (lines.find((l) => /^(RRULE:)?FREQ=/.test(l)) ?? '').replace(/^RRULE:/, '');
  const exdates = lines.filter((l) => l.startsWith('EXDATE')).flatMap((l) => l.slice(l.indexOf(':') + 1).split(','))
    .map((d) => d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  return { rrule: rrule || 'FREQ=DAILY;COUNT=1', exdates, exceptions: [] };
}

/** A row as the normalised fields both sides use. */
function activityOf(r: Row, ownerEmail: string | null): CrmActivity {
  const task = r.type === 2;
  const fields: ItemFields = {
    subject: r.title ?? '', body: r.description ?? undefined, location: r.location ?? undefined,
    ...(task ? { due: utc(r.end_at) ?? utc(r.start_at), start: utc(r.start_at), done: r.done } : { start: utc(r.start_at), end: utc(r.end_at) }),
    timeZone: r.time_zone ?? undefined, allDay: r.all_day, private: r.private,
    recurrence: r.recurrence_rule ? parseRuleColumn(r.recurrence_rule) : null,
    associateId: r.associate_id, associateEmail: ownerEmail ?? undefined,
    contactId: r.contact_id, personId: r.person_id, motherId: r.mother_id, seriesId: r.series_id, originalStart: utc(r.original_start), modified: utc(r.updated), version: String(r.updated_count),
    crmId: `appointment:${r.appointment_id}`,
  };
  for (const k of Object.keys(fields) as Array<keyof ItemFields>) if (fields[k] === undefined) delete fields[k];
  return { id: r.appointment_id, associateId: r.associate_id, type: r.type, version: r.updated_count, fields };
}

/** recurrence → the recurrence_rule column: "RRULE:…" and an "EXDATE:…" line. */
function ruleColumn(fields: ItemFields): string | null {
  const r = fields.recurrence;
  if (!r) return null;
  const exdates = r.exdates.map((d) => d.replace(/[-:]/g, '').replace(/\.\d+/, ''));
  return `RRULE:${r.rrule}${exdates.length ? `\nEXDATE:${exdates.join(',')}` : ''}`;
}

/**
 * The reference CRM (SuperOffice-shaped tables) behind CrmPort. Every write runs in a
 * transaction that sets ecs.origin = 'sync', so the change-log trigger marks it as the
 * sync's own and it is not sent back to Exchange.
 */
export class SqlCrm implements CrmPort, CrmChangeFeed {
  private readonly s: string;

  readonly name: string;

  constructor(private readonly db: Database, schema: string) {
    this.s = assertIdentifier(schema);
    this.name = schema;
  }

  async changesAfter(changeId: number, limit: number): Promise<CrmChange[]> {
    const { rows } = await this.db.query<LogRow>(
      `select l.change_id, l.ttime, l.table_name, l.record_id, l.owner_id, l.op, l.origin, s.email as associate_email, a.*
         from ${this.s}.change_log l
         left join ${this.s}.appointment a on l.table_name = 'appointment' and a.appointment_id = l.record_id
         left join ${this.s}.associate s on s.associate_id = coalesce(a.associate_id, l.owner_id)
        where l.change_id > $1 order by l.change_id limit ${Math.max(1, Math.floor(limit))}`,
      [changeId],
    );
    return rows.map((r) => ({
      changeId: Number(r.change_id), time: new Date(r.ttime).getTime(), table: r.table_name, recordId: r.record_id, op: r.op, origin: r.origin,
      ownerId: r.owner_id, ownerEmail: r.associate_email,
      activity: r.appointment_id !== null && r.appointment_id !== undefined ? activityOf(r as Row, r.associate_email) : undefined,
    }));
  }

  onChange(wake: () => void): Promise<() => Promise<void>> {
    return this.db.listen(`${this.s}_changes`, wake);
  }

  async associateIdByEmail(email: string): Promise<number | undefined> {
    const { rows } = await this.db.query<{ associate_id: number }>(`select associate_id from ${this.s}.associate where lower(email) = lower($1) and active`, [email]);
    return rows[0]?.associate_id;
  }

  async get(id: number): Promise<CrmActivity | undefined> {
    const { rows } = await this.db.query<Row>(`select * from ${this.s}.appointment where appointment_id = $1`, [id]);
    return rows[0] ? activityOf(rows[0], null) : undefined;
  }

  /** The first CRM person with one of these e-mail addresses (attendees linking a row to a person and company). */
  async personByEmail(emails: readonly string[]): Promise<{ personId: number; contactId: number | null } | undefined> {
    const lower = emails.map((e) => e.toLowerCase());
    const { rows } = await this.db.query<{ person_id: number; contact_id: number | null }>(
      `select person_id, contact_id from ${this.s}.person where lower(email) = any($1::text[]) order by array_position($1::text[], lower(email)), person_id limit 1`, [lower],
    );
    return rows[0] ? { personId: rows[0].person_id, contactId: rows[0].contact_id } : undefined;
  }

  /** The exception rows of a series, by original start. */
  async exceptionRows(seriesId: number): Promise<Map<string, CrmActivity>> {
    const { rows } = await this.db.query<Row>(`select * from ${this.s}.appointment where series_id = $1`, [seriesId]);
    return new Map(rows.map((r) => [utc(r.original_start) ?? '', activityOf(r, null)]));
  }

  /** Joins a row to a meeting's mother row; returns the row's new version. */
  setMother(id: number, motherId: number): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query(`select set_config('ecs.origin', 'sync', true)`);
      const { rows } = await tx.query<{ updated_count: number }>(`update ${this.s}.appointment set mother_id = $2 where appointment_id = $1 returning updated_count`, [id, motherId]);
      return rows[0]?.updated_count;
    });
  }

  private values(type: 1 | 2, f: ItemFields): unknown[] {
    const start = type === 2 ? (f.start ?? f.due) : f.start;
    const end = type === 2 ? (f.due ?? f.end) : f.end;
    return [f.subject ?? '', f.body ?? null, f.location ?? null, start ?? null, end ?? null, f.timeZone ?? null, f.allDay ?? false, f.private ?? false, f.done ?? false, ruleColumn(f)];
  }

  insert(associateId: number, type: 1 | 2, fields: ItemFields): Promise<{ id: number; version: number }> {
    return this.db.transaction(async (tx) => {
      await tx.query(`select set_config('ecs.origin', 'sync', true)`);
      const { rows } = await tx.query<{ appointment_id: number; updated_count: number }>(
        `insert into ${this.s}.appointment (associate_id, type, title, description, location, start_at, end_at, time_zone, all_day, private, done, recurrence_rule, person_id, contact_id, mother_id, series_id, original_start)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) returning appointment_id, updated_count`,
        [associateId, type, ...this.values(type, fields), fields.personId ?? null, fields.contactId ?? null, fields.motherId ?? null, fields.seriesId ?? null, fields.originalStart ?? null],
      );
      return { id: rows[0].appointment_id, version: rows[0].updated_count };
    });
  }

  update(id: number, fields: ItemFields): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query(`select set_config('ecs.origin', 'sync', true)`);
      const { rows: current } = await tx.query<{ type: 1 | 2 }>(`select type from ${this.s}.appointment where appointment_id = $1`, [id]);
      if (!current[0]) return undefined;
      const { rows } = await tx.query<{ updated_count: number }>(
        // links are only ever added from Exchange: a person linked by hand in the CRM stays
        `update ${this.s}.appointment set title = $2, description = $3, location = $4, start_at = $5, end_at = $6, time_zone = $7, all_day = $8, private = $9, done = $10, recurrence_rule = $11,
                person_id = coalesce($12, person_id), contact_id = coalesce($13, contact_id)
          where appointment_id = $1 returning updated_count`,
        [id, ...this.values(current[0].type, fields), fields.personId ?? null, fields.contactId ?? null],
      );
      return rows[0]?.updated_count;
    });
  }

  delete(id: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query(`select set_config('ecs.origin', 'sync', true)`);
      const r = await tx.query(`delete from ${this.s}.appointment where appointment_id = $1`, [id]);
      return r.rowCount > 0;
    });
  }
}
