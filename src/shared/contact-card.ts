import { PoisonMessageError } from './errors.js';

/** The kinds of phone number both sides know (Exchange's PhoneNumberKey names, lower-cased). */
export const PHONE_KINDS = ['business', 'mobile', 'home', 'businessFax', 'other'] as const;
export type PhoneKind = (typeof PHONE_KINDS)[number];

export interface PostalAddress {
  street?: string;
  city?: string;
  state?: string;
  postalCode?: string;
  country?: string;
}

/**
 * A person as both sides see them: an Exchange contact, a CRM person. The company is the
 * CRM contact's name (Exchange has only the text); notes travel as the item's body.
 */
export interface ContactCard {
  givenName?: string;
  middleName?: string;
  surname?: string;
  /** The company (CRM: the person's contact). */
  company?: string;
  jobTitle?: string;
  department?: string;
  /** Up to three, the first is the primary (Exchange: EmailAddress1..3). */
  emails: string[];
  phones: Partial<Record<PhoneKind, string>>;
  /** The business address. */
  address?: PostalAddress;
}

/** Exchange keeps three e-mail addresses per contact. */
export const MAX_EMAILS = 3;

// RFC 5322's full grammar is wider; this is what both Exchange and SuperOffice accept as SMTP.
const EMAIL = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[^\s@<>()[\],;:"]+$/;

export const isEmailAddress = (text: string): boolean => EMAIL.test(text);

/** The name a card is shown by: "Given Middle Surname", else the first e-mail address. */
export function displayNameOf(card: ContactCard): string {
  const name = [card.givenName, card.middleName, card.surname].filter((p) => p && p.trim()).join(' ').trim();
  return name || card.emails[0] || '';
}

/**
 * A card that cannot become a person or a contact: no name and no e-mail address, or an
 * e-mail that is not an address. Thrown as a poison message: parked in the dead-letter
 * topic with this text, and the changes after it flow.
 */
export function assertContactCard(card: ContactCard | undefined, what: string): ContactCard {
  if (!card) throw new PoisonMessageError(`${what}: not a contact (no contact fields)`);
  const named = [card.givenName, card.middleName, card.surname].some((p) => !!p?.trim());
  if (!named && !card.emails.length) throw new PoisonMessageError(`${what}: a contact needs a name or an e-mail address; it has neither`);
  const bad = card.emails.filter((e) => !isEmailAddress(e));
  if (bad.length) throw new PoisonMessageError(`${what}: "${bad[0]}" is not an e-mail address`, { context: { email: bad[0] } });
  if (card.emails.length > MAX_EMAILS) throw new PoisonMessageError(`${what}: ${card.emails.length} e-mail addresses; Exchange keeps ${MAX_EMAILS}`);
  return card;
}

/** Two cards say the same (what a write would change: nothing). */
export function sameCard(a: ContactCard | undefined, b: ContactCard | undefined): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(card: ContactCard | undefined): unknown {
  if (!card) return null;
  const text = (v: string | undefined): string => (v ?? '').trim();
  const address = card.address ?? {};
  return [
    text(card.givenName), text(card.middleName), text(card.surname), text(card.company), text(card.jobTitle), text(card.department),
    card.emails.map((e) => e.toLowerCase()), PHONE_KINDS.map((k) => text(card.phones[k])),
    [text(address.street), text(address.city), text(address.state), text(address.postalCode), text(address.country)],
  ];
}

/** Drops empty parts, so both sides write and compare the same shape. */
export function tidyCard(card: ContactCard): ContactCard {
  const out: ContactCard = { emails: card.emails.map((e) => e.trim()).filter(Boolean), phones: {} };
  for (const key of ['givenName', 'middleName', 'surname', 'company', 'jobTitle', 'department'] as const) {
    const v = card[key]?.trim();
    if (v) out[key] = v;
  }
  for (const kind of PHONE_KINDS) {
    const v = card.phones[kind]?.trim();
    if (v) out.phones[kind] = v;
  }
  const address: PostalAddress = {};
  for (const key of ['street', 'city', 'state', 'postalCode', 'country'] as const) {
    const v = card.address?.[key]?.trim();
    if (v) address[key] = v;
  }
  if (Object.keys(address).length) out.address = address;
  return out;
}
