import { displayNameOf, MAX_EMAILS, tidyCard, type ContactCard, type PostalAddress } from '../shared/contact-card.js';
import type { ItemFields } from '../shared/item-fields.js';
import { formatUtc } from '../shared/time-zones.js';
import { STAMP_PROPERTY_ID } from './event-fields.js';

/**
 * The business fax and the other phone: Graph's contact names no property for them; they are
 * the MAPI properties PidTagBusinessFaxNumber and PidTagOtherTelephoneNumber, which EWS shows
 * as the PhoneNumbers BusinessFax and OtherTelephone — so a card travels whole over both.
 */
export const FAX_PROPERTY_ID = 'String 0x3A24';
export const OTHER_PHONE_PROPERTY_ID = 'String 0x3A1F';
/** What a read of a contact expands: the stamp and the two phones. */
export const CONTACT_PROPERTY_IDS = [STAMP_PROPERTY_ID, FAX_PROPERTY_ID, OTHER_PHONE_PROPERTY_ID];

interface GraphAddress {
  readonly street?: string | null;
  readonly city?: string | null;
  readonly state?: string | null;
  readonly postalCode?: string | null;
  readonly countryOrRegion?: string | null;
}

/** A Graph contact as far as the sync reads it (v1.0 `contact`). */
export interface GraphContact {
  readonly id: string;
  readonly changeKey?: string;
  readonly '@removed'?: { readonly reason: string };
  readonly createdDateTime?: string;
  readonly lastModifiedDateTime?: string;
  readonly parentFolderId?: string;
  readonly givenName?: string | null;
  readonly middleName?: string | null;
  readonly surname?: string | null;
  readonly companyName?: string | null;
  readonly jobTitle?: string | null;
  readonly department?: string | null;
  readonly emailAddresses?: ReadonlyArray<{ readonly name?: string; readonly address?: string }>;
  readonly businessPhones?: readonly string[];
  readonly homePhones?: readonly string[];
  readonly mobilePhone?: string | null;
  readonly businessAddress?: GraphAddress | null;
  readonly personalNotes?: string | null;
  readonly categories?: readonly string[];
  readonly singleValueExtendedProperties?: ReadonlyArray<{ readonly id: string; readonly value: string }>;
}

const property = (c: GraphContact, id: string): string | undefined => c.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === id.toLowerCase())?.value;

/** A Graph contact as the envelope's normalised fields (the card, the notes, the stamp). */
export function fieldsOfContact(c: GraphContact): ItemFields {
  const a = c.businessAddress ?? {};
  const address: PostalAddress = { street: a.street ?? undefined, city: a.city ?? undefined, state: a.state ?? undefined, postalCode: a.postalCode ?? undefined, country: a.countryOrRegion ?? undefined };
  const card: ContactCard = tidyCard({
    givenName: c.givenName ?? undefined, middleName: c.middleName ?? undefined, surname: c.surname ?? undefined,
    company: c.companyName ?? undefined, jobTitle: c.jobTitle ?? undefined, department: c.department ?? undefined,
    emails: (c.emailAddresses ?? []).map((e) => e.address ?? '').filter(Boolean).slice(0, MAX_EMAILS),
    phones: {
      business: c.businessPhones?.[0], home: c.homePhones?.[0], mobile: c.mobilePhone ?? undefined,
      businessFax: property(c, FAX_PROPERTY_ID), other: property(c, OTHER_PHONE_PROPERTY_ID),
    },
    address,
  });
  const fields: ItemFields = { itemId: c.id, folder: 'contacts', version: c.changeKey, subject: displayNameOf(card), contact: card, private: false };
  if (c.personalNotes) fields.body = c.personalNotes;
  if (c.lastModifiedDateTime) fields.modified = formatUtc(Date.parse(c.lastModifiedDateTime));
  if (c.categories?.length) fields.categories = [...c.categories];
  const stamp = property(c, STAMP_PROPERTY_ID);
  if (stamp) fields.crmId = stamp;
  return fields;
}

/**
 * The card as a contact body (POST or PATCH): every part written, an absent one as empty, so a
 * part cleared in the CRM is cleared in Outlook too.
 */
export function contactBodyOf(f: ItemFields): Record<string, unknown> {
  const card = tidyCard(f.contact ?? { emails: [], phones: {} });
  const name = displayNameOf(card);
  const a = card.address ?? {};
  return {
    givenName: card.givenName ?? '', middleName: card.middleName ?? '', surname: card.surname ?? '',
    displayName: name, fileAs: card.surname && card.givenName ? `${card.surname}, ${card.givenName}` : name,
    companyName: card.company ?? '', jobTitle: card.jobTitle ?? '', department: card.department ?? '',
    emailAddresses: card.emails.slice(0, MAX_EMAILS).map((address) => ({ name, address })),
    businessPhones: card.phones.business ? [card.phones.business] : [],
    homePhones: card.phones.home ? [card.phones.home] : [],
    mobilePhone: card.phones.mobile ?? '',
    businessAddress: { street: a.street ?? '', city: a.city ?? '', state: a.state ?? '', postalCode: a.postalCode ?? '', countryOrRegion: a.country ?? '' },
    personalNotes: f.body ?? '',
    ...(f.categories ? { categories: f.categories } : {}),
    singleValueExtendedProperties: [{ id: FAX_PROPERTY_ID, value: card.phones.businessFax ?? '' }, { id: OTHER_PHONE_PROPERTY_ID, value: card.phones.other ?? '' }],
  };
}
