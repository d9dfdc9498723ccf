// A user of the reference CRM: plain SQL as the CRM's own application would write it (the
// triggers log it as a user's change).
import { crmRef, parseCrmRef, type CrmRef } from '../../src/crm-adapter/index.js';
import type { Database } from '../../src/state/index.js';
import type { CrmUser } from './crm-port-contract.js';

const idOf = (ref: CrmRef): number => Number(parseCrmRef(ref)!.id);

export function referenceCrmUser(db: Database, schema: string): CrmUser {
  return {
    async createAppointment(ownerEmail, title, start, end) {
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone)
         select associate_id, 1, $2, $3, $4, 'Europe/Berlin' from ${schema}.associate where lower(email) = lower($1) returning appointment_id`, [ownerEmail, title, start, end]);
      return crmRef('appointment', rows[0].appointment_id);
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
