import { assertIdentifier, type Database } from '../state/database.js';
import type { SuperOfficeSandbox } from '../superoffice-sandbox/index.js';
import type { DemoCrmUser } from './demo-routes.js';

/** The embedded reference CRM: rows inserted as the CRM's own application would (origin "user"). */
export function referenceDemoUser(db: Database, crmSchema: string): DemoCrmUser {
  const s = assertIdentifier(crmSchema);
  return {
    async create(mailbox, title, start, end) {
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${s}.appointment (associate_id, type, title, start_at, end_at, time_zone)
         select associate_id, 1, $2, $3, $4, 'UTC' from ${s}.associate where lower(email) = lower($1) returning appointment_id`, [mailbox, title, start, end]);
      return rows[0] ? { appointmentId: rows[0].appointment_id } : undefined;
    },
    async list(mailbox) {
      const { rows } = await db.query<{ appointment_id: number; type: number; title: string; start_at: Date }>(
        `select a.appointment_id, a.type, a.title, a.start_at from ${s}.appointment a join ${s}.associate p on p.associate_id = a.associate_id where lower(p.email) = lower($1) order by a.appointment_id`, [mailbox]);
      return rows.map((r) => ({ appointmentId: r.appointment_id, type: r.type === 2 ? 'task' : 'appointment', title: r.title, start: new Date(r.start_at).toISOString() }));
    },
  };
}

/** The built-in SuperOffice simulator: the Web API called as the user whose e-mail it is. */
export function superOfficeDemoUser(so: SuperOfficeSandbox): DemoCrmUser {
  const userOf = (mailbox: string): { id: number; userName: string } | undefined => {
    for (const a of so.store.associates.values()) if (so.store.emailOf(a.id).toLowerCase() === mailbox.toLowerCase() && a.type === 'InternalAssociate') return { id: a.id, userName: a.userName };
    return undefined;
  };
  const call = async (userName: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const r = await fetch(`${so.apiUrl}${path}`, {
      method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { authorization: `Basic ${Buffer.from(`${userName}:${so.password}`).toString('base64')}`, 'content-type': 'application/json', accept: 'application/json' },
    });
    return (await r.json()) as Record<string, unknown>;
  };
  return {
    async create(mailbox, title, start, end) {
      const user = userOf(mailbox);
      if (!user) return undefined;
      const made = await call(user.userName, 'POST', '/Appointment', { Associate: { AssociateId: user.id }, Title: title, StartDate: start, EndDate: end, Type: 'inDiary' });
      return { appointmentId: Number(made.AppointmentId) };
    },
    async list(mailbox) {
      const user = userOf(mailbox);
      if (!user) return [];
      const rows = (await call(user.userName, 'GET', `/Appointment?$select=appointmentId,type,text,date&$filter=associateId equals ${user.id}&$orderBy=appointmentId`)).value as Array<{ appointmentId: number; type: string; text: string; date: string }>;
      return rows.map((r) => ({ appointmentId: r.appointmentId, type: r.type === 'inChecklist' ? 'task' : 'appointment', title: r.text, start: r.date }));
    },
  };
}
