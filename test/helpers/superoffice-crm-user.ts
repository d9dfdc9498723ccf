// A SuperOffice user's hands: REST calls as that user (not the API user), so the feed sees a
// user's change, with UpdatedBy their associate id.
import { crmRef, parseCrmRef, type CrmRef } from '../../src/crm-adapter/index.js';
import { parseSeriesRef, ruleOfRrule } from '../../src/crm-adapter/superoffice/series.js';
import { infoFromRule } from '../../src/shared/superoffice-recurrence.js';
import { tzLocations } from '../../src/superoffice-sandbox/index.js';
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
      const series = parseSeriesRef(ref);
      if (series) {
        const first = so.store.seriesRows(series.ruleId, series.associateId)[0];
        const entity = ok(await call('GET', `/Appointment/${first.id}`), 'read').body;
        delete entity._Links;
        ok(await call('POST', '/Agents/Appointment/Save', {
          AppointmentEntity: { ...entity, Title: title, StartDate: new Date(first.start + deltaMs).toISOString(), EndDate: new Date(first.end + deltaMs).toISOString() }, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false,
        }), 'move series');
        return;
      }
      const current = so.store.appointments.get(idOf(ref));
      if (!current) throw new Error(`${ref} is gone`);
      ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Title: title, StartDate: new Date(current.start + deltaMs).toISOString(), EndDate: new Date(current.end + deltaMs).toISOString() }), 'move');
    },
    async list() {
      // the database as SuperOffice's own list would show it (read directly: a test's eyes, not the sync's)
      const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
      // a series is one entry (its first row), as the diary's list of series shows it
      const out = new Map<string, { ref: CrmRef; ownerEmail: string; title: string; start: string; end: string }>();
      for (const a of [...so.store.appointments.values()].sort((x, y) => x.start - y.start || x.id - y.id)) {
        const ref = a.recurrenceRuleId ? crmRef('appointment', `series-${a.recurrenceRuleId}-${a.associateId}`) : crmRef('appointment', a.id);
        if (!out.has(ref)) out.set(ref, { ref, ownerEmail: so.store.emailOf(a.associateId), title: a.title, start: iso(a.start), end: iso(a.end) });
      }
      return [...out.values()];
    },
    async createSeries(ownerEmail, title, start, end, rrule, exdates = []) {
      // the pattern as a user would pick it in SuperOffice's dialog
      const rule = ruleOfRrule(rrule, Date.parse(start), Date.parse(start) + 365 * 86_400_000);
      if (typeof rule === 'string') throw new Error(rule);
      const berlin = tzLocations().find((t) => t.iana === 'Europe/Berlin')!.id;
      const associateId = associateOf(ownerEmail);
      const r = ok(await call('POST', '/Appointment', {
        Associate: { AssociateId: associateId }, Title: title, StartDate: start, EndDate: end, Type: 'inDiary', PreferredTZLocation: berlin, Recurrence: infoFromRule(rule, Date.parse(start)),
      }), 'series');
      const ruleId = r.body.Recurrence.RecurrenceId as number;
      for (const d of exdates) {
        const row = [...so.store.appointments.values()].find((a) => a.recurrenceRuleId === ruleId && a.associateId === associateId && a.start === Date.parse(d));
        if (row) ok(await call('DELETE', `/Appointment/${row.id}`), 'exdate');
      }
      return crmRef('appointment', `series-${ruleId}-${associateId}`);
    },
    async moveSeries(ref, deltaMs) {
      const series = parseSeriesRef(ref)!;
      const first = so.store.seriesRows(series.ruleId, series.associateId)[0];
      const entity = ok(await call('GET', `/Appointment/${first.id}`), 'read').body;
      delete entity._Links;
      ok(await call('POST', '/Agents/Appointment/Save', {
        AppointmentEntity: { ...entity, StartDate: new Date(first.start + deltaMs).toISOString(), EndDate: new Date(first.end + deltaMs).toISOString() }, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false,
      }), 'move series');
    },
    async setPrivate(ref, value) {
      ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Private: value ? 'PrivateUser' : 'Public' }), 'private');
    },
    async rename(ref, title) {
      const series = parseSeriesRef(ref);
      if (!series) {
        ok(await call('PATCH', `/Appointment/${idOf(ref)}`, { Title: title }), 'rename');
        return;
      }
      // a series is renamed from its first row on, as the Appointment dialog does
      const first = so.store.seriesRows(series.ruleId, series.associateId)[0];
      const entity = ok(await call('GET', `/Appointment/${first.id}`), 'read').body;
      delete entity._Links;
      ok(await call('POST', '/Agents/Appointment/Save', { AppointmentEntity: { ...entity, Title: title }, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false }), 'rename series');
    },
    async delete(ref) {
      const series = parseSeriesRef(ref);
      if (!series) {
        ok(await call('DELETE', `/Appointment/${idOf(ref)}`), 'delete');
        return;
      }
      const first = so.store.seriesRows(series.ruleId, series.associateId)[0];
      ok(await call('POST', '/Agents/Appointment/Delete', { AppointmentId: first.id, UpdateMode: 'ThisAndForward', SendEmailToParticipants: false }), 'delete series');
    },
    async addPerson(email, company) {
      const c = ok(await call('POST', '/Contact', { Name: company }), 'company');
      const p = ok(await call('POST', '/Person', { Firstname: email.split('@')[0], Lastname: '', Contact: { ContactId: c.body.ContactId }, Emails: [{ Value: email, StrippedValue: email, Description: '' }] }), 'person');
      return { personRef: crmRef('person', p.body.PersonId), contactRef: crmRef('contact', c.body.ContactId) };
    },
  };
}
