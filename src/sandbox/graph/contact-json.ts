import type { XmlElement } from '../../shared/safe-xml.js';
import { changeKeyOf, folderIdOf } from '../ids.js';
import type { ExtendedValue, Mailbox, PropertyValue, StoredItem } from '../mailbox-store.js';
import { extendedIdOf, extendedUriOf, GraphError } from './event-json.js';
import { graphIdOf, restIdOf } from './graph-ids.js';

/**
 * A contact of the one mailbox store as Graph's `contact` (v1.0 metadata), and a Graph
 * contact body as the store's properties. The store keeps what EWS wrote: EmailAddresses,
 * PhoneNumbers and PhysicalAddresses as keyed entries. Graph names some of those entries
 * (businessPhones, homePhones, mobilePhone, the three addresses); the others — the business
 * fax, the other phone — are the same MAPI properties Graph reaches as extended properties
 * (PidTagBusinessFaxNumber 0x3A24, PidTagOtherTelephoneNumber 0x3A1F), as Exchange does.
 */

const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const el = (local: string, text: string, attrs: Record<string, string> = {}, children: XmlElement[] = []): XmlElement => ({ name: `t:${local}`, local, uri: NS_T, attrs, children, text });
const text = (v: PropertyValue | undefined): string | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : v.text);

/** Phone entries Graph names, and the extended properties of the others. */
const PHONES_OF: Record<string, readonly string[]> = { businessPhones: ['BusinessPhone', 'BusinessPhone2'], homePhones: ['HomePhone', 'HomePhone2'], mobilePhone: ['MobilePhone'] };
export const PHONE_TAGS: Record<string, string> = { 'String 0x3A24': 'BusinessFax', 'String 0x3A1F': 'OtherTelephone' };
const ADDRESS_OF: Record<string, string> = { businessAddress: 'Business', homeAddress: 'Home', otherAddress: 'Other' };
const ADDRESS_FIELDS: Record<string, string> = { street: 'Street', city: 'City', state: 'State', countryOrRegion: 'CountryOrRegion', postalCode: 'PostalCode' };
const SIMPLE: Record<string, string> = {
  givenName: 'GivenName', middleName: 'MiddleName', surname: 'Surname', displayName: 'DisplayName', fileAs: 'FileAs', companyName: 'CompanyName',
  jobTitle: 'JobTitle', department: 'Department', initials: 'Initials', nickName: 'Nickname', officeLocation: 'OfficeLocation', profession: 'Profession',
  assistantName: 'AssistantName', manager: 'Manager', spouseName: 'SpouseName', generation: 'Generation', businessHomePage: 'BusinessHomePage',
};

const entries = (v: PropertyValue | undefined): XmlElement[] => (typeof v === 'object' ? v.children.filter((c) => c.local === 'Entry') : []);
const entry = (v: PropertyValue | undefined, key: string): XmlElement | undefined => entries(v).find((e) => e.attrs.Key === key);

export interface ContactOptions {
  readonly extended?: readonly string[];
}

/** A contact as Graph returns it. */
export function contactOf(mailbox: Mailbox, item: StoredItem, options: ContactOptions = {}): Record<string, unknown> {
  const p = item.props;
  const changeKey = changeKeyOf(item.version);
  const address = (key: string): Record<string, string> => {
    const e = entry(p.PhysicalAddresses, key);
    return Object.fromEntries(Object.entries(ADDRESS_FIELDS).map(([json, xml]) => [json, e?.children.find((c) => c.local === xml)?.text ?? ''])) as Record<string, string>;
  };
  const phone = (key: string): string | undefined => entry(p.PhoneNumbers, key)?.text || undefined;
  const emails = ['EmailAddress1', 'EmailAddress2', 'EmailAddress3'].map((k) => entry(p.EmailAddresses, k)).filter((e): e is XmlElement => !!e?.text)
    .map((e) => ({ name: e.attrs.Name ?? e.text, address: e.text }));
  const part = (name: string): string => text(p[name])?.trim() ?? '';
  const contact: Record<string, unknown> = {
    '@odata.etag': `W/"${changeKey}"`,
    id: graphIdOf(mailbox.index, item.seq),
    createdDateTime: new Date(item.created).toISOString(),
    lastModifiedDateTime: new Date(item.modified).toISOString(),
    changeKey,
    categories: typeof p.Categories === 'object' ? p.Categories.children.map((s) => s.text) : [],
    parentFolderId: restIdOf(folderIdOf(item.mailbox, item.folder)),
    birthday: null,
    ...Object.fromEntries(Object.entries(SIMPLE).map(([json, xml]) => [json, text(p[xml]) ?? null])),
    title: null, yomiGivenName: null, yomiSurname: null, yomiCompanyName: null,
    imAddresses: [],
    children: [],
    emailAddresses: emails,
    businessPhones: PHONES_OF.businessPhones.map(phone).filter(Boolean),
    homePhones: PHONES_OF.homePhones.map(phone).filter(Boolean),
    mobilePhone: phone('MobilePhone') ?? null,
    businessAddress: address('Business'),
    homeAddress: address('Home'),
    otherAddress: address('Other'),
    personalNotes: text(p.Body) ?? '',
  };
  // Exchange composes the name a contact is shown by from its parts
  contact.displayName ??= [part('GivenName'), part('MiddleName'), part('Surname')].filter(Boolean).join(' ') || (emails[0]?.address ?? '');
  if (options.extended) {
    contact.singleValueExtendedProperties = options.extended.flatMap((id) => {
      const phoneKey = PHONE_TAGS[normalisedTag(id)];
      if (phoneKey) {
        const v = phone(phoneKey);
        return v ? [{ id: normalisedTag(id), value: v }] : [];
      }
      const stored = item.extended.get(extendedUriOf(id).key);
      return stored && typeof stored.value === 'string' ? [{ id: extendedIdOf(stored.uri) ?? id, value: stored.value }] : [];
    });
  }
  return contact;
}

/** "String 0x3a24" as "String 0x3A24". */
const normalisedTag = (id: string): string => id.trim().replace(/^(\w+)\s+0x([0-9a-f]+)$/i, (_, t: string, n: string) => `${t} 0x${n.toUpperCase()}`);

/**
 * What a POST or PATCH body sets: only the properties it names (a PATCH leaves the rest). A
 * collection replaces its entries (emailAddresses all three, businessPhones both), as Graph's
 * PATCH of a collection does; the other entries of the same dictionary stay.
 */
export function propsOfContact(body: Record<string, unknown>, before: Record<string, PropertyValue> = {}): { props: Record<string, PropertyValue>; extended: Map<string, ExtendedValue>; cleared: string[] } {
  const props: Record<string, PropertyValue> = {};
  const cleared: string[] = [];
  const extended = new Map<string, ExtendedValue>();
  const dictionaries = new Map<string, Map<string, XmlElement>>();
  const dictionary = (name: string): Map<string, XmlElement> => {
    let d = dictionaries.get(name);
    if (!d) dictionaries.set(name, (d = new Map(entries(before[name]).map((e) => [e.attrs.Key ?? '', e]))));
    return d;
  };
  const str = (key: string, v: unknown): string => {
    if (v !== null && v !== undefined && typeof v !== 'string') throw new GraphError(400, 'ErrorInvalidRequest', `${key} must be a string.`);
    return (v as string | null | undefined) ?? '';
  };
  for (const [key, value] of Object.entries(body)) {
    if (key.startsWith('@odata.')) continue;
    if (SIMPLE[key]) {
      const v = str(key, value);
      if (v) props[SIMPLE[key]] = v;
      else cleared.push(SIMPLE[key]);
      continue;
    }
    switch (key) {
      case 'personalNotes': props.Body = el('Body', str(key, value), { BodyType: 'Text' }); break;
      case 'categories': props.Categories = el('Categories', '', {}, (Array.isArray(value) ? value : []).map((c) => el('String', String(c)))); break;
      case 'emailAddresses': {
        if (value !== null && !Array.isArray(value)) throw new GraphError(400, 'ErrorInvalidRequest', 'emailAddresses must be a collection.');
        const list = (value ?? []) as Array<{ name?: unknown; address?: unknown }>;
        if (list.length > 3) throw new GraphError(400, 'ErrorInvalidRequest', 'A contact has at most 3 e-mail addresses.');
        const d = dictionary('EmailAddresses');
        for (const k of ['EmailAddress1', 'EmailAddress2', 'EmailAddress3']) d.delete(k);
        list.forEach((e, i) => {
          const address = str('emailAddresses.address', e?.address);
          if (address) d.set(`EmailAddress${i + 1}`, el('Entry', address, { Key: `EmailAddress${i + 1}`, ...(typeof e.name === 'string' && e.name ? { Name: e.name } : {}), RoutingType: 'SMTP' }));
        });
        break;
      }
      case 'businessPhones':
      case 'homePhones':
      case 'mobilePhone': {
        const list = key === 'mobilePhone' ? [str(key, value)] : ((value ?? []) as unknown[]).map((v) => str(key, v));
        const keys = PHONES_OF[key];
        if (list.length > keys.length) throw new GraphError(400, 'ErrorInvalidRequest', `${key} holds at most ${keys.length}.`);
        const d = dictionary('PhoneNumbers');
        keys.forEach((k, i) => (list[i] ? d.set(k, el('Entry', list[i], { Key: k })) : d.delete(k)));
        break;
      }
      case 'businessAddress':
      case 'homeAddress':
      case 'otherAddress': {
        const a = (value ?? {}) as Record<string, unknown>;
        const d = dictionary('PhysicalAddresses');
        const k = ADDRESS_OF[key];
        const fields = Object.entries(ADDRESS_FIELDS).map(([json, xml]) => [xml, str(`${key}.${json}`, a[json])] as const).filter(([, v]) => v);
        if (fields.length) d.set(k, el('Entry', '', { Key: k }, fields.map(([xml, v]) => el(xml, v))));
        else d.delete(k);
        break;
      }
      case 'singleValueExtendedProperties':
        for (const e of Array.isArray(value) ? value : []) {
          const x = e as { id?: unknown; value?: unknown };
          if (typeof x.id !== 'string') throw new GraphError(400, 'ErrorInvalidProperty', 'singleValueExtendedProperties: each entry needs an id and a value.');
          const phoneKey = PHONE_TAGS[normalisedTag(x.id)];
          if (phoneKey) {
            const d = dictionary('PhoneNumbers');
            if (x.value) d.set(phoneKey, el('Entry', String(x.value), { Key: phoneKey }));
            else d.delete(phoneKey);
            continue;
          }
          const { key: k, uri } = extendedUriOf(x.id);
          extended.set(k, { uri, value: String(x.value ?? '') });
        }
        break;
      default:
        break; // read-only or not kept by the sandbox: accepted and ignored, as Graph ignores read-only ones
    }
  }
  const ELEMENT: Record<string, string> = { EmailAddresses: 'EmailAddresses', PhoneNumbers: 'PhoneNumbers', PhysicalAddresses: 'PhysicalAddresses' };
  for (const [name, d] of dictionaries) {
    if (d.size) props[ELEMENT[name]] = el(name, '', {}, [...d.values()]);
    else cleared.push(name);
  }
  return { props, extended, cleared };
}
