import ews from 'ews-javascript-api';
import { displayNameOf, MAX_EMAILS, PHONE_KINDS, tidyCard, type ContactCard, type PhoneKind, type PostalAddress } from '../shared/contact-card.js';
import type { ItemFields } from '../shared/item-fields.js';
import { escapeXml } from '../shared/xml-escape.js';

const EMAIL_KEYS = [ews.EmailAddressKey.EmailAddress1, ews.EmailAddressKey.EmailAddress2, ews.EmailAddressKey.EmailAddress3];
const PHONE_KEYS: Record<PhoneKind, ews.PhoneNumberKey> = {
  business: ews.PhoneNumberKey.BusinessPhone, mobile: ews.PhoneNumberKey.MobilePhone, home: ews.PhoneNumberKey.HomePhone,
  businessFax: ews.PhoneNumberKey.BusinessFax, other: ews.PhoneNumberKey.OtherTelephone,
};

/** Reads a property that may not have been loaded (the library throws then). */
function read<T>(get: () => T): T | undefined {
  try {
    const v = get();
    return v === null ? undefined : v;
  } catch {
    return undefined;
  }
}

function entry<T>(dictionary: { TryGetValue(key: never, out: { outValue: T | null }): boolean } | undefined, key: unknown): T | undefined {
  if (!dictionary) return undefined;
  const out: { outValue: T | null } = { outValue: null };
  return dictionary.TryGetValue(key as never, out) ? (out.outValue ?? undefined) : undefined;
}

/** An Exchange contact's card (names, company, e-mails by key, phones by key, business address). */
export function contactCardOf(contact: ews.Contact): ContactCard {
  const emails = read(() => contact.EmailAddresses);
  const phones = read(() => contact.PhoneNumbers);
  const addresses = read(() => contact.PhysicalAddresses);
  const card: ContactCard = {
    givenName: read(() => contact.GivenName), middleName: read(() => contact.MiddleName), surname: read(() => contact.Surname),
    company: read(() => contact.CompanyName), jobTitle: read(() => contact.JobTitle), department: read(() => contact.Department),
    emails: EMAIL_KEYS.map((k) => entry<ews.EmailAddress>(emails, k)?.Address ?? '').filter(Boolean),
    phones: Object.fromEntries(PHONE_KINDS.map((kind) => [kind, entry<string>(phones, PHONE_KEYS[kind])]).filter(([, v]) => v)),
  };
  const business = entry<ews.PhysicalAddressEntry>(addresses, ews.PhysicalAddressKey.Business);
  if (business) {
    card.address = {
      street: read(() => business.Street), city: read(() => business.City), state: read(() => business.State),
      postalCode: read(() => business.PostalCode), country: read(() => business.CountryOrRegion),
    };
  }
  return tidyCard(card);
}

/**
 * The card onto a library contact. Entries the card no longer has are removed (the library
 * sends DeleteItemField for them), so a cleared phone number is cleared in Outlook too.
 * Text goes through escapeXml: the library writes values into the SOAP body as they are.
 */
export function applyContact(contact: ews.Contact, fields: ItemFields, existing?: ContactCard): void {
  const card = tidyCard(fields.contact ?? { emails: [], phones: {} });
  // a part the card lacks is written only to clear what the contact had (DeleteItemField)
  const set = (key: 'givenName' | 'middleName' | 'surname' | 'company' | 'jobTitle' | 'department', write: (v: string | null) => void): void => {
    const v = card[key];
    if (v) write(escapeXml(v));
    else if (existing?.[key]) write(null);
  };
  set('givenName', (v) => (contact.GivenName = v as string));
  set('middleName', (v) => (contact.MiddleName = v as string));
  set('surname', (v) => (contact.Surname = v as string));
  set('company', (v) => (contact.CompanyName = v as string));
  set('jobTitle', (v) => (contact.JobTitle = v as string));
  set('department', (v) => (contact.Department = v as string));
  const name = displayNameOf(card);
  contact.DisplayName = escapeXml(name);
  contact.FileAs = escapeXml(card.surname && card.givenName ? `${card.surname}, ${card.givenName}` : name);
  contact.Body = new ews.MessageBody(ews.BodyType.Text, escapeXml(fields.body ?? ''));
  for (let i = 0; i < MAX_EMAILS; i++) {
    const address = card.emails[i];
    if (address) contact.EmailAddresses._setItem(EMAIL_KEYS[i], new ews.EmailAddress(escapeXml(displayNameOf(card)), escapeXml(address), 'SMTP'));
    else if (existing && existing.emails[i]) contact.EmailAddresses._setItem(EMAIL_KEYS[i], null as never);
  }
  for (const kind of PHONE_KINDS) {
    const number = card.phones[kind];
    if (number) contact.PhoneNumbers._setItem(PHONE_KEYS[kind], escapeXml(number));
    else if (existing?.phones[kind]) contact.PhoneNumbers._setItem(PHONE_KEYS[kind], null as never);
  }
  if (card.address) contact.PhysicalAddresses._setItem(ews.PhysicalAddressKey.Business, addressEntry(card.address));
  else if (existing?.address) contact.PhysicalAddresses._setItem(ews.PhysicalAddressKey.Business, null as never);
  if (fields.categories) {
    contact.Categories = new ews.StringList(fields.categories.map(escapeXml));
  }
}

function addressEntry(a: PostalAddress): ews.PhysicalAddressEntry {
  const e = new ews.PhysicalAddressEntry();
  if (a.street) e.Street = escapeXml(a.street);
  if (a.city) e.City = escapeXml(a.city);
  if (a.state) e.State = escapeXml(a.state);
  if (a.postalCode) e.PostalCode = escapeXml(a.postalCode);
  if (a.country) e.CountryOrRegion = escapeXml(a.country);
  return e;
}
