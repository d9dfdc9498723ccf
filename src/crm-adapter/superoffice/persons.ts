import { CrmError } from '../../shared/errors.js';
import type { ItemFields } from '../../shared/item-fields.js';
import { Limiter } from '../../shared/limiter.js';
import { crmRef, type CrmChange, type CrmPerson, type CrmRef, type CrmSelection, type CrmWriteOutcome } from '../crm-port.js';
import { parseSoDate } from './appointment-fields.js';
import type { FeedPosition } from './feed-position.js';
import { ownerIdOf, personEntityOf, personFieldsOf, type PersonEntity } from './person-fields.js';
import type { SuperOfficeHttp } from './superoffice-http.js';
import { idOf, quote, readArchive, type ArchivePage } from './archive.js';

interface PersonRow {
  personId: number;
  personUpdatedDate: string;
  personRegisteredDate: string;
  personUpdatedBy: number;
}

interface SelectionRow {
  selectionId: number;
  updatedDate: string;
  lastMembershipChange: string;
}

export interface SuperOfficePersonsOptions {
  readonly http: SuperOfficeHttp;
  readonly apiAssociateId: number;
  readonly application: string;
  readonly device: string;
  /** An associate's e-mail address (their mailbox). */
  readonly emailOf: (associateId: number) => Promise<string | undefined>;
}

const STAMP_KEY = 'item';
/** Persons read at once (a selection's members). */
const PERSON_READS = 8;

/**
 * SuperOffice's persons and selections behind the CRM port's person and selection calls, and
 * their part of the change feed: the Person archive polled on personUpdatedDate (the API
 * user's writes are the sync's own), the Selection archive on updatedDate and
 * lastMembershipChange (a selection's rename and its members). A selection is subscribed to
 * by its owner (SelectionEntity.Associate).
 */
export class SuperOfficePersons {
  constructor(private readonly options: SuperOfficePersonsOptions) {}

  private async entity(id: number): Promise<PersonEntity | undefined> {
    const r = await this.options.http.request<PersonEntity>('GET', `/Person/${id}`, undefined, { expect: [404] });
    return r.status === 404 ? undefined : r.body;
  }

  private async personOf(e: PersonEntity): Promise<CrmPerson> {
    const owner = ownerIdOf(e);
    const email = owner ? await this.options.emailOf(owner) : undefined;
    return {
      ref: crmRef('person', e.PersonId), owner: owner ? crmRef('associate', owner) : null, ownerEmail: email, fields: personFieldsOf(e, email),
      version: e.UpdatedDate ?? '', writtenBySync: e.UpdatedBy?.AssociateId === this.options.apiAssociateId,
    };
  }

  async person(ref: CrmRef): Promise<CrmPerson | undefined> {
    const id = idOf(ref, 'person');
    const e = id === undefined ? undefined : await this.entity(id);
    return e ? this.personOf(e) : undefined;
  }

  async persons(refs: readonly CrmRef[]): Promise<CrmPerson[]> {
    const reads = new Limiter(PERSON_READS);
    const found = await Promise.all(refs.map((ref) => reads.run(() => this.person(ref))));
    return found.filter((p): p is CrmPerson => !!p);
  }

  /** The company a card names: the contact of that name, made if there is none. */
  private async companyOf(fields: ItemFields): Promise<number | undefined> {
    const name = fields.contact?.company?.trim();
    if (!name) return undefined;
    const found = await this.options.http.request<ArchivePage<{ contactId: number }>>('GET', `/Contact?$select=contactId&$filter=${encodeURIComponent(`name is ${quote(name)}`)}&$orderBy=contactId&$top=1`);
    if (found.body.value[0]) return found.body.value[0].contactId;
    const made = await this.options.http.request<{ ContactId: number }>('POST', '/Contact', { Name: name });
    return made.body.ContactId;
  }

  async createPerson(owner: CrmRef, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    const associate = idOf(owner, 'associate');
    if (associate === undefined) throw new CrmError('NOT_AN_ASSOCIATE', `${owner} is not a SuperOffice associate`);
    const made = await this.options.http.request<PersonEntity>('POST', '/Person', personEntityOf(fields, {}, await this.companyOf(fields), associate));
    await this.stamp(made.body.PersonId, stamp);
    return { ref: crmRef('person', made.body.PersonId), version: made.body.UpdatedDate ?? '' };
  }

  async findStampedPerson(stamp: string): Promise<CrmPerson | undefined> {
    const { application, device } = this.options;
    const r = await this.options.http.request<{ RecordId?: number }>('GET', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/Key/${STAMP_KEY}/person?keyValue=${encodeURIComponent(stamp)}`, undefined, { expect: [404] });
    return r.status === 404 || !r.body?.RecordId ? undefined : this.person(crmRef('person', r.body.RecordId));
  }

  private async stamp(id: number, stamp: string): Promise<void> {
    const { application, device } = this.options;
    await this.options.http.request('POST', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/default/Key`, { Key: STAMP_KEY, Value: stamp, TableName: 'person', RecordId: id });
  }

  /** A PUT of the whole entity as read, with the card's parts replaced; conditional on UpdatedDate (If-Unmodified-Since). */
  async updatePerson(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome<CrmPerson>> {
    const id = idOf(ref, 'person');
    const current = id === undefined ? undefined : await this.entity(id);
    if (!current) return { status: 'missing' };
    if (ifVersion !== undefined && current.UpdatedDate !== ifVersion) return { status: 'conflict', current: await this.personOf(current) };
    const since = new Date(parseSoDate(current.UpdatedDate ?? undefined) ?? 0).toUTCString();
    const r = await this.options.http.request<PersonEntity>('PUT', `/Person/${id}`, personEntityOf(fields, current, await this.companyOf(fields) ?? current.Contact?.ContactId, undefined),
      { headers: { 'if-unmodified-since': since }, expect: [404, 412] });
    if (r.status === 404) return { status: 'missing' };
    if (r.status === 412) {
      const now = await this.entity(id!);
      return now ? { status: 'conflict', current: await this.personOf(now) } : { status: 'missing' };
    }
    return { status: 'written', version: r.body.UpdatedDate ?? '' };
  }

  async deletePerson(ref: CrmRef): Promise<boolean> {
    const id = idOf(ref, 'person');
    if (id === undefined) return false;
    return (await this.options.http.request('DELETE', `/Person/${id}`, undefined, { expect: [404] })).status !== 404;
  }

  async selection(ref: CrmRef): Promise<CrmSelection | undefined> {
    const id = idOf(ref, 'selection');
    if (id === undefined) return undefined;
    const r = await this.options.http.request<{ SelectionId: number; Name?: string; TargetTableName?: string; IncludePerson?: number; Associate?: { AssociateId?: number } | null }>(
      'GET', `/Selection/${id}`, undefined, { expect: [404] });
    if (r.status === 404) return undefined;
    const s = r.body;
    const owner = s.Associate?.AssociateId ? await this.options.emailOf(s.Associate.AssociateId) : undefined;
    // a contact selection with its persons is a selection of persons; without, of companies
    const target = s.TargetTableName === 'contact' && s.IncludePerson ? 'person' : (s.TargetTableName ?? 'unknown');
    return { ref, name: s.Name ?? '', target, subscribers: owner ? [owner] : [] };
  }

  async selectionMembers(ref: CrmRef): Promise<CrmRef[]> {
    const id = idOf(ref, 'selection');
    if (id === undefined) return [];
    const rows = await this.archive<{ personId: number }>(`/Selection/${id}/Members?$select=personId`);
    return [...new Set(rows.map((r) => r.personId).filter((p) => p > 0))].map((p) => crmRef('person', p));
  }

  /** The persons the associate owns, with their versions. */
  async ownedBy(associateId: number): Promise<Array<{ ref: CrmRef; version: string; writtenBySync: boolean }>> {
    const rows = await this.archive<{ personId: number; personUpdatedDate: string; personUpdatedBy: number }>(
      `/Person?$select=personId,personUpdatedDate,personUpdatedBy&$filter=${encodeURIComponent(`associateId equals ${associateId}`)}`);
    return rows.map((r) => ({ ref: crmRef('person', r.personId), version: r.personUpdatedDate, writtenBySync: r.personUpdatedBy === this.options.apiAssociateId }));
  }

  /** The selections SuperOffice has now (to tell which of the sync's are gone). */
  async selectionIds(): Promise<Set<number>> {
    return new Set((await this.archive<{ selectionId: number }>('/Selection?$select=selectionId')).map((r) => r.selectionId));
  }

  /** Which of these persons SuperOffice still has. */
  async presentPersons(ids: readonly number[]): Promise<Set<number>> {
    if (!ids.length) return new Set();
    const rows = await this.archive<{ personId: number }>(`/Person?$select=personId&$filter=${encodeURIComponent(`personId between ${Math.min(...ids)},${Math.max(...ids)}`)}`);
    return new Set(rows.map((r) => r.personId));
  }

  private archive<R>(path: string): Promise<R[]> {
    return readArchive<R>(this.options.http, path);
  }

  /**
   * The feed's person and selection changes after `at`, settled before `settled` (younger rows
   * may still be committing: they come at a later read). Moves `next`'s person and selection
   * places; at most `limit` person changes.
   */
  async changes(at: FeedPosition, next: FeedPosition, settled: number, limit: number): Promise<CrmChange[]> {
    const out: CrmChange[] = [];
    const rows = (await this.options.http.request<ArchivePage<PersonRow>>('GET',
      `/Person?$select=personId,personUpdatedDate,personRegisteredDate,personUpdatedBy&$filter=${encodeURIComponent(`personUpdatedDate afterTime '${new Date(at.pt).toISOString()}'`)}&$orderBy=personUpdatedDate,personId&$top=${Math.max(1, limit)}`)).body.value;
    for (const row of rows) {
      const t = parseSoDate(row.personUpdatedDate) ?? 0;
      if (t < at.pt || (t === at.pt && row.personId <= at.pid)) continue; // afterTime is "after or equal to"
      if (t > settled) break;
      next.pt = t;
      next.pid = row.personId;
      const ref = crmRef('person', row.personId);
      const op: 'c' | 'u' = row.personRegisteredDate === row.personUpdatedDate ? 'c' : 'u';
      const base = { ref, kind: 'contact' as const, op, time: t, position: '' };
      if (row.personUpdatedBy === this.options.apiAssociateId) {
        out.push({ ...base, bySync: true, owner: null, ownerEmail: null });
        continue;
      }
      const person = await this.person(ref);
      if (!person) continue; // deleted since: its delete comes from the webhook or the check of mapped records
      out.push({ ...base, bySync: false, owner: person.owner, ownerEmail: person.ownerEmail ?? null, person });
    }
    const selections = await this.archive<SelectionRow>('/Selection?$select=selectionId,updatedDate,lastMembershipChange');
    const changed = selections
      .map((r) => ({ id: r.selectionId, t: Math.max(parseSoDate(r.updatedDate) ?? 0, parseSoDate(r.lastMembershipChange) ?? 0) }))
      .filter((r) => r.t > at.st && r.t <= settled)
      .sort((a, b) => a.t - b.t);
    for (const c of changed) {
      next.st = Math.max(next.st, c.t);
      const ref = crmRef('selection', c.id);
      const selection = await this.selection(ref);
      out.push({ ref, kind: 'selection-member', op: selection ? 'u' : 'd', time: c.t, bySync: false, owner: null, ownerEmail: null, position: '', selection });
    }
    return out;
  }
}
