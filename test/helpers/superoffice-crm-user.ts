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
    async createAppointment(ownerEmail, title, start, end) {
      const r = ok(await call('POST', '/Appointment', { Associate: { AssociateId: associateOf(ownerEmail) }, Title: title, StartDate: start, EndDate: end, Type: 'inDiary' }), 'create');
      return crmRef('appointment', r.body.AppointmentId);
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
