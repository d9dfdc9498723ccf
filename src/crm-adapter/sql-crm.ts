import type { ItemFields } from '../shared/item-fields.js';
import { assertIdentifier, type Database } from '../state/database.js';
import type { CrmActivity, CrmPort } from './crm-port.js';

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
  updated_count: number;
}

const utc = (d: Date | null): string | undefined => (d ? new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined);

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
export class SqlCrm implements CrmPort {
  private readonly s: string;

  constructor(private readonly db: Database, schema: string) {
    this.s = assertIdentifier(schema);
  }

  async associateIdByEmail(email: string): Promise<number | undefined> {
    const { rows } = await this.db.query<{ associate_id: number }>(`select associate_id from ${this.s}.associate where lower(email) = lower($1) and active`, [email]);
    return rows[0]?.associate_id;
  }

  async get(id: number): Promise<CrmActivity | undefined> {
    const { rows } = await this.db.query<Row>(`select * from ${this.s}.appointment where appointment_id = $1`, [id]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      id: r.appointment_id, associateId: r.associate_id, type: r.type, version: r.updated_count,
      fields: {
        subject: r.title ?? '', body: r.description ?? undefined, location: r.location ?? undefined, start: utc(r.start_at), end: utc(r.end_at),
        timeZone: r.time_zone ?? undefined, allDay: r.all_day, private: r.private, done: r.done,
      },
    };
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
        `insert into ${this.s}.appointment (associate_id, type, title, description, location, start_at, end_at, time_zone, all_day, private, done, recurrence_rule)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning appointment_id, updated_count`,
        [associateId, type, ...this.values(type, fields)],
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
        `update ${this.s}.appointment set title = $2, description = $3, location = $4, start_at = $5, end_at = $6, time_zone = $7, all_day = $8, private = $9, done = $10, recurrence_rule = $11
          where appointment_id = $1 returning updated_count`,
        [id, ...this.values(current[0].type, fields)],
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
