// A user of the reference CRM: plain SQL as the CRM's own application would write it (the
// triggers log it as a user's change).
import { crmRef, parseCrmRef, type CrmRef } from '../../src/crm-adapter/index.js';
import type { Database } from '../../src/state/index.js';
import type { CrmUser } from './crm-port-contract.js';

const idOf = (ref: CrmRef): number => Number(parseCrmRef(ref)!.id);

export function referenceCrmUser(db: Database, schema: string): CrmUser {
  return {
    async createAppointment(ownerEmail, title, start, end, options = {}) {
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone, private)
         select associate_id, 1, $2, $3, $4, 'Europe/Berlin', $5 from ${schema}.associate where lower(email) = lower($1) returning appointment_id`, [ownerEmail, title, start, end, options.private ?? false]);
      return crmRef('appointment', rows[0].appointment_id);
    },
    async move(ref, title, deltaMs) {
      await db.query(`update ${schema}.appointment set title = $2, start_at = start_at + make_interval(secs => $3), end_at = end_at + make_interval(secs => $3) where appointment_id = $1`, [idOf(ref), title, deltaMs / 1000]);
    },
    async list() {
      const { rows } = await db.query<{ appointment_id: number; email: string; title: string; start_at: Date; end_at: Date }>(
        `select a.appointment_id, s.email, a.title, a.start_at, a.end_at from ${schema}.appointment a join ${schema}.associate s using (associate_id) order by a.appointment_id`);
      const iso = (d: Date): string => new Date(d).toISOString().replace('.000Z', 'Z');
      return rows.map((r) => ({ ref: crmRef('appointment', r.appointment_id), ownerEmail: r.email, title: r.title, start: iso(r.start_at), end: iso(r.end_at) }));
    },
    async createSeries(ownerEmail, title, start, end, rrule, exdates = []) {
      const rule = `RRULE:${rrule}${exdates.length ? `\nEXDATE:${exdates.map((d) => d.replace(/[-:]/g, '')).join(',')}` : ''}`;
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone, recurrence_rule)
         select associate_id, 1, $2, $3, $4, 'Europe/Berlin', $5 from ${schema}.associate where lower(email) = lower($1) returning appointment_id`, [ownerEmail, title, start, end, rule]);
      return crmRef('appointment', rows[0].appointment_id);
    },
    async moveSeries(ref, deltaMs) {
      await db.query(`update ${schema}.appointment set start_at = start_at + make_interval(secs => $2), end_at = end_at + make_interval(secs => $2) where appointment_id = $1`, [idOf(ref), deltaMs / 1000]);
    },
    async setPrivate(ref, value) {
      await db.query(`update ${schema}.appointment set private = $2 where appointment_id = $1`, [idOf(ref), value]);
    },
    async rename(ref, title) {
      await db.query(`update ${schema}.appointment set title = $2 where appointment_id = $1`, [idOf(ref), title]);
    },
    async delete(ref) {
      await db.query(`delete from ${schema}.appointment where appointment_id = $1`, [idOf(ref)]);
    },
    async addPerson(email, company) {
      const { rows: c } = await db.query<{ contact_id: number }>(`insert into ${schema}.contact (name) values ($1) returning contact_id`, [company]);
      const { rows: p } = await db.query<{ person_id: number }>(`insert into ${schema}.person (contact_id, email) values ($1, $2) returning person_id`, [c[0].contact_id, email]);
      return { personRef: crmRef('person', p[0].person_id), contactRef: crmRef('contact', c[0].contact_id) };
    },
  };
}
