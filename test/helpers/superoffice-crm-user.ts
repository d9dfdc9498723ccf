// A SuperOffice user's hands: REST calls as that user (not the API user), so the feed sees a
// user's change, with UpdatedBy their associate id.
import { crmRef, parseCrmRef, type CrmRef } from '../../src/crm-adapter/index.js';
import type { SuperOfficeSandbox } from '../../src/superoffice-sandbox/index.js';
import type { CrmUser } from './crm-port-contract.js';
import { soClient } from './superoffice.js';

const idOf = (ref: CrmRef): number => Number(parseCrmRef(ref)!.id);

export function superOfficeCrmUser(so: SuperOfficeSandbox, userName = 'user0001'): CrmUser {
  const call = soClient(so, userName);
  const ok = <T extends { status: number }>(r: T, what: string): T => {
    if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify((r as unknown as { body: unknown }).body)}`);
    return r;
  };
  const associateOf = (email: string): number => {
    for (const a of so.store.associates.values()) if (so.store.emailOf(a.id).toLowerCase() === email.toLowerCase()) return a.id;
    throw new Error(`no SuperOffice user has the e-mail ${email}`);
  };
  return {
    async createAppointment(ownerEmail, title, start, end, options = {}) {
      const r = ok(await call('POST', '/Appointment', { Associate: { AssociateId: associateOf(ownerEmail) }, Title: title, StartDate: start, EndDate: end, Type: 'inDiary', Private: options.private ? 'PrivateUser' : 'Public' }), 'create');
      return crmRef('appointment', r.body.AppointmentId);
    },
    async move(ref, title, deltaMs) {
      const current = so.store.appointments.get(idOf(ref));
      if (!current) throw new Error(`${ref} is gone`);
      ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Title: title, StartDate: new Date(current.start + deltaMs).toISOString(), EndDate: new Date(current.end + deltaMs).toISOString() }), 'move');
    },
    async list() {
      // the database as SuperOffice's own list would show it (read directly: a test's eyes, not the sync's)
      const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
      return [...so.store.appointments.values()].sort((a, b) => a.id - b.id)
        .map((a) => ({ ref: crmRef('appointment', a.id), ownerEmail: so.store.emailOf(a.associateId), title: a.title, start: iso(a.start), end: iso(a.end) }));
    },
    async setPrivate(ref, value) {
      ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Private: value ? 'PrivateUser' : 'Public' }), 'private');
    },
    async rename(ref, title) {
      ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Title: title }), 'rename');
    },
    async delete(ref) {
      ok(await call('DELETE', `/Appointment/${idOf(ref)}`), 'delete');
    },
    async addPerson(email, company) {
      const c = ok(await call('POST', '/Contact', { Name: company }), 'company');
      const p = ok(await call('POST', '/Person', { Firstname: email.split('@')[0], Lastname: '', Contact: { ContactId: c.body.ContactId }, Emails: [{ Value: email, StrippedValue: email, Description: '' }] }), 'person');
      return { personRef: crmRef('person', p.body.PersonId), contactRef: crmRef('contact', c.body.ContactId) };
    },
  };
}
