// A CRM user's hands on persons and selections, for each CRM: SQL on the reference CRM, the
// simulator's database on SuperOffice (writes by that user, so webhooks and UpdatedBy say so).
import { crmRef, type CrmRef } from '../../src/crm-adapter/index.js';
import type { Database } from '../../src/state/database.js';
import { noPersonDetails } from '../../src/superoffice-sandbox/store.js';
import type { SuperOfficeSandbox } from '../../src/superoffice-sandbox/index.js';

export interface PersonInput {
  first?: string;
  last?: string;
  email?: string;
  email2?: string;
  company?: string;
  phone?: string;
  mobile?: string;
  title?: string;
  street?: string;
  city?: string;
  zip?: string;
}

export interface PersonSeen {
  ref: CrmRef;
  ownerEmail: string | null;
  company: string | null;
  title: string | null;
  phone: string | null;
}

export interface PeopleHands {
  /** Whether the CRM keeps a selection's subscribers apart from its owner (the reference CRM does). */
  readonly subscribers: boolean;
  createPerson(owner: string | null, p: PersonInput): Promise<CrmRef>;
  updatePerson(ref: CrmRef, change: { title?: string; mobile?: null }): Promise<void>;
  deletePerson(ref: CrmRef): Promise<void>;
  findPerson(last: string): Promise<PersonSeen | undefined>;
  /** `persons: false`: a selection of companies. The owner subscribes to it. */
  createSelection(name: string, owner: string, members: readonly CrmRef[], options?: { persons?: boolean }): Promise<CrmRef>;
  addMembers(selection: CrmRef, members: readonly CrmRef[]): Promise<void>;
  removeMembers(selection: CrmRef, members: readonly CrmRef[]): Promise<void>;
  rename(selection: CrmRef, name: string): Promise<void>;
  deleteSelection(selection: CrmRef): Promise<void>;
  /** Every person that has an owner: its owner's e-mail, surname and title. */
  owned(): Promise<Array<{ ref: CrmRef; owner: string; lastname: string; title: string | null }>>;
  members(selection: CrmRef): Promise<CrmRef[]>;
  /** Reference CRM only. */
  unsubscribe?(selection: CrmRef, mailbox: string): Promise<void>;
  subscribe?(selection: CrmRef, mailbox: string): Promise<void>;
}

const id = (ref: CrmRef): number => Number(ref.slice(ref.indexOf(':') + 1));

export function referencePeople(db: Database, s: string): PeopleHands {
  const associate = async (email: string): Promise<number> => (await db.query<{ associate_id: number }>(`select associate_id from ${s}.associate where email = $1`, [email])).rows[0].associate_id;
  return {
    subscribers: true,
    async createPerson(owner, p) {
      const company = p.company ? (await db.query<{ contact_id: number }>(`insert into ${s}.contact (name) values ($1) returning contact_id`, [p.company])).rows[0].contact_id : null;
      const { rows } = await db.query<{ person_id: number }>(
        `insert into ${s}.person (contact_id, associate_id, firstname, lastname, email, email2, phone, mobile, title, street, city, zip)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning person_id`,
        [company, owner ? await associate(owner) : null, p.first ?? null, p.last ?? null, p.email ?? null, p.email2 ?? null, p.phone ?? null, p.mobile ?? null, p.title ?? null, p.street ?? null, p.city ?? null, p.zip ?? null]);
      return crmRef('person', rows[0].person_id);
    },
    async updatePerson(ref, change) {
      if (change.title !== undefined) await db.query(`update ${s}.person set title = $2 where person_id = $1`, [id(ref), change.title]);
      if (change.mobile === null) await db.query(`update ${s}.person set mobile = null where person_id = $1`, [id(ref)]);
    },
    async deletePerson(ref) {
      await db.query(`delete from ${s}.person where person_id = $1`, [id(ref)]);
    },
    async findPerson(last) {
      const { rows } = await db.query<{ person_id: number; email: string | null; company: string | null; title: string | null; phone: string | null }>(
        `select p.person_id, a.email, c.name as company, p.title, p.phone from ${s}.person p left join ${s}.contact c using (contact_id) left join ${s}.associate a on a.associate_id = p.associate_id where p.lastname = $1`, [last]);
      const r = rows[0];
      return r ? { ref: crmRef('person', r.person_id), ownerEmail: r.email, company: r.company, title: r.title, phone: r.phone } : undefined;
    },
    async createSelection(name, owner, members, options = {}) {
      const selection = (await db.query<{ selection_id: number }>(`insert into ${s}.selection (name, associate_id, target) values ($1, $2, $3) returning selection_id`, [name, await associate(owner), options.persons === false ? 'contact' : 'person'])).rows[0].selection_id;
      for (const m of members) await db.query(`insert into ${s}.selection_member values ($1, $2)`, [selection, id(m)]);
      await db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [selection, await associate(owner)]);
      return crmRef('selection', selection);
    },
    async addMembers(selection, members) {
      for (const m of members) await db.query(`insert into ${s}.selection_member values ($1, $2)`, [id(selection), id(m)]);
    },
    async removeMembers(selection, members) {
      await db.query(`delete from ${s}.selection_member where selection_id = $1 and person_id = any($2::int[])`, [id(selection), members.map(id)]);
    },
    async rename(selection, name) {
      await db.query(`update ${s}.selection set name = $2 where selection_id = $1`, [id(selection), name]);
    },
    async deleteSelection(selection) {
      await db.query(`delete from ${s}.selection where selection_id = $1`, [id(selection)]);
    },
    async owned() {
      const { rows } = await db.query<{ person_id: number; email: string; lastname: string; title: string | null }>(
        `select p.person_id, a.email, p.lastname, p.title from ${s}.person p join ${s}.associate a using (associate_id)`);
      return rows.map((r) => ({ ref: crmRef('person', r.person_id), owner: r.email, lastname: r.lastname, title: r.title }));
    },
    async members(selection) {
      return (await db.query<{ person_id: number }>(`select person_id from ${s}.selection_member where selection_id = $1`, [id(selection)])).rows.map((r) => crmRef('person', r.person_id));
    },
    async unsubscribe(selection, mailbox) {
      await db.query(`delete from ${s}.selection_subscriber where selection_id = $1 and associate_id = $2`, [id(selection), await associate(mailbox)]);
    },
    async subscribe(selection, mailbox) {
      await db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [id(selection), await associate(mailbox)]);
    },
  };
}

export function superOfficePeople(so: SuperOfficeSandbox): PeopleHands {
  const store = so.store;
  const associate = (email: string): number => {
    for (const a of store.associates.values()) if (store.emailOf(a.id).toLowerCase() === email.toLowerCase() && a.type === 'InternalAssociate') return a.id;
    throw new Error(`no SuperOffice user ${email}`);
  };
  // the first user acts for everyone (never the sync's API user)
  const user = (): number => associate([...store.associates.values()].map((a) => store.emailOf(a.id)).find((e) => /^user0001@/.test(e))!);
  return {
    subscribers: false,
    async createPerson(owner, p) {
      const contactId = p.company ? store.addContact(p.company, user()).id : 0;
      const details = {
        ...noPersonDetails(), associateId: owner ? associate(owner) : 0, title: p.title ?? '', moreEmails: p.email2 ? [p.email2] : [],
        officePhones: p.phone ? [p.phone] : [], mobilePhones: p.mobile ? [p.mobile] : [], street: { address1: p.street ?? '', city: p.city ?? '', state: '', zipcode: p.zip ?? '' },
      };
      return crmRef('person', store.addPerson({ contactId, firstname: p.first ?? '', lastname: p.last ?? '', email: p.email ?? '', details }, user()).id);
    },
    async updatePerson(ref, change) {
      const p = store.persons.get(id(ref))!;
      store.updatePerson(p.id, { details: { ...p.details, ...(change.title !== undefined ? { title: change.title } : {}), ...(change.mobile === null ? { mobilePhones: [] } : {}) } }, user());
    },
    async deletePerson(ref) {
      store.deletePerson(id(ref), user());
    },
    async findPerson(last) {
      const p = [...store.persons.values()].find((x) => x.lastname === last);
      return p ? {
        ref: crmRef('person', p.id), ownerEmail: p.details.associateId ? store.emailOf(p.details.associateId) : null, company: store.contacts.get(p.contactId)?.name ?? null,
        title: p.details.title || null, phone: p.details.officePhones[0] ?? null,
      } : undefined;
    },
    async createSelection(name, owner, members, options = {}) {
      const sel = store.addSelection({ name, description: '', associateId: associate(owner), includePerson: options.persons !== false }, user());
      if (members.length) store.changeMembers(sel.id, members.map(id), 'add', user());
      return crmRef('selection', sel.id);
    },
    async addMembers(selection, members) {
      store.changeMembers(id(selection), members.map(id), 'add', user());
    },
    async removeMembers(selection, members) {
      store.changeMembers(id(selection), members.map(id), 'remove', user());
    },
    async rename(selection, name) {
      store.renameSelection(id(selection), { name }, user());
    },
    async deleteSelection(selection) {
      store.deleteSelection(id(selection));
    },
    async owned() {
      return [...store.persons.values()].filter((p) => p.details.associateId).map((p) => ({ ref: crmRef('person', p.id), owner: store.emailOf(p.details.associateId), lastname: p.lastname, title: p.details.title || null }));
    },
    async members(selection) {
      return [...(store.selections.get(id(selection))?.memberPersonIds ?? [])].map((p) => crmRef('person', p));
    },
  };
}
