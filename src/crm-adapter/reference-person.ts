import { tidyCard, type ContactCard } from '../shared/contact-card.js';
import type { ItemFields } from '../shared/item-fields.js';
import { formatUtc } from '../shared/time-zones.js';
import { crmRef, type CrmPerson } from './crm-port.js';

/** A row of the reference CRM's person table, with its company's name and owner's e-mail. */
export interface PersonRow {
  person_id: number;
  contact_id: number | null;
  associate_id: number | null;
  firstname: string | null;
  middlename: string | null;
  lastname: string | null;
  title: string | null;
  department: string | null;
  email: string | null;
  email2: string | null;
  email3: string | null;
  phone: string | null;
  mobile: string | null;
  home_phone: string | null;
  fax: string | null;
  other_phone: string | null;
  street: string | null;
  city: string | null;
  state: string | null;
  zip: string | null;
  country: string | null;
  notes: string | null;
  categories: string[] | null;
  updated: Date | null;
  updated_count: number;
  updated_by: string;
  company: string | null;
  owner_email: string | null;
}

const text = (v: string | null | undefined): string | undefined => v ?? undefined;

/** A person row as the card both sides share. */
export function personOf(r: PersonRow): CrmPerson {
  const card: ContactCard = tidyCard({
    givenName: text(r.firstname), middleName: text(r.middlename), surname: text(r.lastname), company: text(r.company), jobTitle: text(r.title),
    department: text(r.department), emails: [r.email, r.email2, r.email3].filter((e): e is string => !!e),
    phones: { business: text(r.phone), mobile: text(r.mobile), home: text(r.home_phone), businessFax: text(r.fax), other: text(r.other_phone) },
    address: { street: text(r.street), city: text(r.city), state: text(r.state), postalCode: text(r.zip), country: text(r.country) },
  });
  const ref = crmRef('person', r.person_id);
  const fields: ItemFields = {
    subject: [card.givenName, card.surname].filter(Boolean).join(' '), contact: card, crmId: ref, version: String(r.updated_count),
    contactRef: r.contact_id === null ? null : crmRef('contact', r.contact_id),
  };
  if (r.notes) fields.body = r.notes;
  if (r.categories?.length) fields.categories = r.categories;
  if (r.updated) fields.modified = formatUtc(new Date(r.updated).getTime());
  if (r.associate_id !== null) fields.owner = crmRef('associate', r.associate_id);
  if (r.owner_email) fields.associateEmail = r.owner_email;
  return {
    ref, owner: r.associate_id === null ? null : crmRef('associate', r.associate_id), ownerEmail: r.owner_email ?? undefined, fields,
    version: String(r.updated_count), writtenBySync: r.updated_by === 'sync',
  };
}

/** The person columns a card writes (the company is resolved by the adapter). */
export function personColumns(fields: ItemFields): Record<string, unknown> {
  const card = tidyCard(fields.contact ?? { emails: [], phones: {} });
  return {
    firstname: card.givenName ?? null, middlename: card.middleName ?? null, lastname: card.surname ?? null, title: card.jobTitle ?? null,
    department: card.department ?? null, email: card.emails[0] ?? null, email2: card.emails[1] ?? null, email3: card.emails[2] ?? null,
    phone: card.phones.business ?? null, mobile: card.phones.mobile ?? null, home_phone: card.phones.home ?? null, fax: card.phones.businessFax ?? null,
    other_phone: card.phones.other ?? null, street: card.address?.street ?? null, city: card.address?.city ?? null, state: card.address?.state ?? null,
    zip: card.address?.postalCode ?? null, country: card.address?.country ?? null, notes: fields.body ?? null, categories: fields.categories ?? null,
  };
}
