// An in-memory CRM behind the port, for handler unit tests: it keeps the contract (the
// contract suite proves the real adapters do too) and lets a test act as a CRM user, fail
// the next call, or "crash" right after a write.
import { crmRef, type ActivityKind, type CrmActivity, type CrmAssociate, type CrmPerson, type CrmPersonLink, type CrmPort, type CrmRef, type CrmSelection, type CrmWriteOutcome } from '../../src/crm-adapter/index.js';
import type { ItemFields } from '../../src/shared/item-fields.js';

interface Stored {
  ref: CrmRef;
  kind: ActivityKind;
  owner: CrmRef;
  fields: ItemFields;
  /** Versions look like "v7": opaque to the handlers, ordered by compareVersions only. */
  n: number;
  bySync: boolean;
  stamp?: string;
}

export class FakeCrm implements CrmPort {
  readonly identity = 'fake';
  readonly records = new Map<CrmRef, Stored>();
  readonly associates = new Map<string, CrmAssociate>();
  readonly calls: string[] = [];
  private next = 1;
  /** Thrown by the next call (then cleared). */
  failNext: Error | undefined;
  /** Thrown by the next call of this name (then cleared). */
  failOn: { call: string; error: Error } | undefined;
  /** The next write succeeds, then the call throws this, as if the process died before the caller saw the answer. */
  crashAfterNextWrite: Error | undefined;

  constructor(associateEmails: readonly string[]) {
    associateEmails.forEach((email, i) => this.associates.set(email.toLowerCase(), { ref: crmRef('associate', i + 1), email }));
  }

  /** A CRM user edits a record. */
  userEdit(ref: CrmRef, fields: Partial<ItemFields>): void {
    const r = this.records.get(ref)!;
    r.fields = { ...r.fields, ...fields };
    r.n++;
    r.bySync = false;
  }

  private enter(call: string): void {
    this.calls.push(call);
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail) throw fail;
    const named = this.failOn?.call === call ? this.failOn.error : undefined;
    if (named) {
      this.failOn = undefined;
      throw named;
    }
  }

  private wrote<T>(value: T): T {
    const crash = this.crashAfterNextWrite;
    this.crashAfterNextWrite = undefined;
    if (crash) throw crash;
    return value;
  }

  private activity(r: Stored): CrmActivity {
    return { ref: r.ref, kind: r.kind, owner: r.owner, fields: { ...r.fields, version: `v${r.n}`, crmId: r.ref }, version: `v${r.n}`, writtenBySync: r.bySync };
  }

  async associateByEmail(email: string): Promise<CrmAssociate | undefined> {
    this.enter('associateByEmail');
    return this.associates.get(email.toLowerCase());
  }

  async get(ref: CrmRef): Promise<CrmActivity | undefined> {
    this.enter('get');
    const r = this.records.get(ref);
    return r ? this.activity(r) : undefined;
  }

  async create(owner: CrmRef, kind: ActivityKind, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    this.enter('create');
    const ref = crmRef('appointment', this.next++);
    this.records.set(ref, { ref, kind, owner, fields: { ...fields }, n: 1, bySync: true, stamp });
    return this.wrote({ ref, version: 'v1' });
  }

  async findStamped(stamp: string): Promise<CrmActivity | undefined> {
    this.enter('findStamped');
    const r = [...this.records.values()].find((x) => x.stamp === stamp);
    return r ? this.activity(r) : undefined;
  }

  async update(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome> {
    this.enter('update');
    const r = this.records.get(ref);
    if (!r) return { status: 'missing' };
    if (ifVersion !== undefined && ifVersion !== `v${r.n}`) return { status: 'conflict', current: this.activity(r) };
    r.fields = { ...fields };
    r.n++;
    r.bySync = true;
    return this.wrote({ status: 'written', version: `v${r.n}` });
  }

  async delete(ref: CrmRef): Promise<boolean> {
    this.enter('delete');
    return this.wrote(this.records.delete(ref));
  }

  async exceptions(seriesRef: CrmRef): Promise<Map<string, CrmActivity>> {
    this.enter('exceptions');
    return new Map([...this.records.values()].filter((r) => r.fields.seriesRef === seriesRef).map((r) => [r.fields.originalStart ?? '', this.activity(r)]));
  }

  async restoreOccurrence(ref: CrmRef): Promise<boolean> {
    this.enter('restoreOccurrence');
    return this.records.delete(ref);
  }

  async setMother(ref: CrmRef, motherRef: CrmRef): Promise<string | undefined> {
    this.enter('setMother');
    const r = this.records.get(ref);
    if (!r) return undefined;
    r.fields = { ...r.fields, motherRef };
    r.n++;
    r.bySync = true;
    return `v${r.n}`;
  }

  async personByEmail(): Promise<CrmPersonLink | undefined> {
    this.enter('personByEmail');
    return undefined;
  }

  compareVersions(a: string, b: string): number {
    return Number(a.slice(1)) - Number(b.slice(1));
  }

  // persons and selections: kept in `people` and `selections` (the handler tests of them run on the real adapters)
  readonly people = new Map<CrmRef, { person: CrmPerson; stamp?: string }>();
  readonly selections = new Map<CrmRef, { selection: CrmSelection; members: CrmRef[] }>();

  async person(ref: CrmRef): Promise<CrmPerson | undefined> {
    this.enter('person');
    return this.people.get(ref)?.person;
  }

  async persons(refs: readonly CrmRef[]): Promise<CrmPerson[]> {
    this.enter('persons');
    return refs.map((r) => this.people.get(r)?.person).filter((p): p is CrmPerson => !!p);
  }

  async createPerson(owner: CrmRef, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    this.enter('createPerson');
    const ref = crmRef('person', this.next++);
    this.people.set(ref, { person: { ref, owner, fields: { ...fields, crmId: ref, version: 'v1' }, version: 'v1', writtenBySync: true }, stamp });
    return this.wrote({ ref, version: 'v1' });
  }

  async findStampedPerson(stamp: string): Promise<CrmPerson | undefined> {
    this.enter('findStampedPerson');
    return [...this.people.values()].find((p) => p.stamp === stamp)?.person;
  }

  async updatePerson(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome<CrmPerson>> {
    this.enter('updatePerson');
    const p = this.people.get(ref);
    if (!p) return { status: 'missing' };
    if (ifVersion !== undefined && ifVersion !== p.person.version) return { status: 'conflict', current: p.person };
    const version = `v${Number(p.person.version.slice(1)) + 1}`;
    p.person = { ...p.person, fields: { ...fields, crmId: ref, version }, version, writtenBySync: true };
    return this.wrote({ status: 'written', version });
  }

  async deletePerson(ref: CrmRef): Promise<boolean> {
    this.enter('deletePerson');
    return this.wrote(this.people.delete(ref));
  }

  async selection(ref: CrmRef): Promise<CrmSelection | undefined> {
    this.enter('selection');
    return this.selections.get(ref)?.selection;
  }

  async recordsOf(owner: CrmRef): Promise<Array<{ ref: CrmRef; kind: ActivityKind | 'contact'; version: string; writtenBySync: boolean }>> {
    this.enter('recordsOf');
    return [...this.records.values()].filter((r) => r.owner === owner && !r.fields.seriesRef).map((r) => ({ ref: r.ref, kind: r.kind, version: `v${r.n}`, writtenBySync: r.bySync }));
  }

  async selectionMembers(ref: CrmRef): Promise<CrmRef[]> {
    this.enter('selectionMembers');
    return this.selections.get(ref)?.members ?? [];
  }
}
