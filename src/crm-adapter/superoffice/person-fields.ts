import { tidyCard, type ContactCard } from '../../shared/contact-card.js';
import type { ItemFields } from '../../shared/item-fields.js';
import { formatUtc } from '../../shared/time-zones.js';
import { crmRef } from '../crm-port.js';
import { parseSoDate } from './appointment-fields.js';

/** An element of PersonEntity's lists (Emails, OfficePhones …). */
interface EntityElement {
  Value?: string | null;
}

/** The parts of SuperOffice's PersonEntity the sync reads and writes. */
export interface PersonEntity {
  PersonId: number;
  Firstname?: string | null;
  MiddleName?: string | null;
  Lastname?: string | null;
  Title?: string | null;
  Description?: string | null;
  Contact?: { ContactId?: number; Name?: string | null; AssociateId?: number } | null;
  Associate?: { AssociateId?: number } | null;
  Emails?: EntityElement[] | null;
  OfficePhones?: EntityElement[] | null;
  MobilePhones?: EntityElement[] | null;
  PrivatePhones?: EntityElement[] | null;
  Faxes?: EntityElement[] | null;
  Address?: { Street?: { Address1?: string | null; City?: string | null; State?: string | null; Zipcode?: string | null } | null } | null;
  UpdatedDate?: string | null;
  UpdatedBy?: { AssociateId?: number } | null;
  [other: string]: unknown;
}

const values = (list: EntityElement[] | null | undefined): string[] => (list ?? []).map((e) => (e.Value ?? '').trim()).filter(Boolean);
const text = (v: string | null | undefined): string | undefined => v ?? undefined;

/**
 * The person's owner: PersonEntity.Associate, else its company's associate (SuperOffice's
 * docs: Person.Associate is usually blank; the company's "our contact" owns its persons).
 */
export const ownerIdOf = (e: PersonEntity): number => e.Associate?.AssociateId || e.Contact?.AssociateId || 0;

/**
 * A person as the card both sides share. Office phones are business (the first) and other
 * (the second); private is home. SuperOffice keeps no department on a person (its company
 * has one) and the country as a list item: neither is carried.
 */
export function personFieldsOf(e: PersonEntity, ownerEmail: string | undefined): ItemFields {
  const office = values(e.OfficePhones);
  const street = e.Address?.Street ?? {};
  const contact: ContactCard = tidyCard({
    givenName: text(e.Firstname), middleName: text(e.MiddleName), surname: text(e.Lastname), company: text(e.Contact?.Name), jobTitle: text(e.Title),
    emails: values(e.Emails).slice(0, 3),
    phones: { business: office[0], other: office[1], mobile: values(e.MobilePhones)[0], home: values(e.PrivatePhones)[0], businessFax: values(e.Faxes)[0] },
    address: { street: text(street.Address1), city: text(street.City), state: text(street.State), postalCode: text(street.Zipcode) },
  });
  const ref = crmRef('person', e.PersonId);
  const owner = ownerIdOf(e);
  const updated = parseSoDate(e.UpdatedDate ?? undefined);
  const fields: ItemFields = {
    subject: [contact.givenName, contact.surname].filter(Boolean).join(' '), contact, crmId: ref, version: e.UpdatedDate ?? '',
    contactRef: e.Contact?.ContactId ? crmRef('contact', e.Contact.ContactId) : null,
  };
  if (e.Description) fields.body = e.Description;
  if (updated !== undefined) fields.modified = formatUtc(updated);
  if (owner) fields.owner = crmRef('associate', owner);
  if (ownerEmail) fields.associateEmail = ownerEmail;
  return fields;
}

/** The card onto a PersonEntity body (the company and owner are the adapter's). */
export function personEntityOf(fields: ItemFields, base: Partial<PersonEntity>, contactId: number | undefined, associateId: number | undefined): Partial<PersonEntity> {
  const card = tidyCard(fields.contact ?? { emails: [], phones: {} });
  const element = (v: string | undefined): EntityElement[] => (v ? [{ Value: v }] : []);
  const street = card.address ?? {};
  // the REST carrier's links are not part of the entity written back
  const { _Links: _links, ...entity } = base as Partial<PersonEntity> & { _Links?: unknown };
  return {
    ...entity,
    Firstname: card.givenName ?? '', MiddleName: card.middleName ?? '', Lastname: card.surname ?? '', Title: card.jobTitle ?? '', Description: fields.body ?? '',
    Emails: card.emails.map((e) => ({ Value: e })),
    OfficePhones: [...element(card.phones.business), ...element(card.phones.other)], MobilePhones: element(card.phones.mobile),
    PrivatePhones: element(card.phones.home), Faxes: element(card.phones.businessFax),
    Address: { Street: { Address1: street.street ?? '', City: street.city ?? '', State: street.state ?? '', Zipcode: street.postalCode ?? '' } },
    Contact: contactId ? { ContactId: contactId } : null,
    ...(associateId !== undefined ? { Associate: associateId ? { AssociateId: associateId } : null } : {}),
  };
}
