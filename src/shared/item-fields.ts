import type { ContactCard } from './contact-card.js';

/** The normalised fields of an appointment, task or contact, as both sides and the envelope see them. */
export interface Attendee {
  email: string;
  name?: string;
  role: 'required' | 'optional' | 'resource';
}

/** A modified occurrence of a series: its original start and what it has of its own. */
export interface RecurrenceException {
  originalStart: string;
  start: string;
  end: string;
  subject?: string;
  location?: string;
}

export interface Recurrence {
  /** RFC 5545 RRULE (without "RRULE:"), times in the item's time zone. */
  rrule: string;
  /** Deleted occurrences: their original start (UTC). */
  exdates: string[];
  /** Modified occurrences: original start → the occurrence's own start and end (UTC), subject and location. */
  exceptions: RecurrenceException[];
}

/** Normalised item fields; times in UTC (ISO 8601) with the original time zone id beside them. */
export interface ItemFields {
  subject?: string;
  body?: string;
  location?: string;
  start?: string;
  end?: string;
  /** IANA time zone id of the item (the Windows id is kept in timeZoneWindows). */
  timeZone?: string;
  timeZoneWindows?: string;
  allDay?: boolean;
  private?: boolean;
  done?: boolean;
  due?: string;
  status?: string;
  percentComplete?: number;
  /** Appointments: the reminder, minutes before the start; null: none (undefined: not known, not written). */
  reminder?: number | null;
  recurrence?: Recurrence | null;
  iCalUid?: string;
  organizer?: string;
  attendees?: Attendee[];
  /** The CRM record this item is linked to ("appointment:42"), from the stamped extended property. */
  crmId?: string;
  categories?: string[];
  /**
   * CRM side: the record's type, by name (SuperOffice: its Task list item; the reference CRM:
   * appointment.activity_type); '' is the CRM's default type.
   */
  crmType?: string;
  /**
   * A write to Exchange: the Outlook category that stands for the record's type (null: none),
   * put in place of any of `replaces` the item has; its other categories stay (<sync><category>).
   */
  typeCategory?: { readonly category: string | null; readonly replaces: readonly string[] };
  /** Last modification time at the source (UTC). */
  modified?: string;
  /** EWS ChangeKey or the CRM record's version token: the source's version. */
  version?: string;
  /** CRM side: the owning associate ("associate:5") and its e-mail address. */
  owner?: string;
  associateEmail?: string;
  /** CRM side: links to a company, a person, a meeting's mother record ("contact:7", …). */
  contactRef?: string | null;
  personRef?: string | null;
  motherRef?: string | null;
  /** An exception of a recurring series: the series' record and the occurrence's original start (UTC). */
  seriesRef?: string | null;
  originalStart?: string;
  /** A contact (Exchange) or person (CRM): names, company, e-mails, phones, address; notes are the body. */
  contact?: ContactCard;
  /** A selection's copy of a person: the selection ("selection:3") and its name. */
  selectionRef?: string;
  selectionName?: string;
  /** A selection as a whole (type selection-member, subject "selection:3"): its size and who subscribes to it (mailboxes). */
  members?: number;
  subscribers?: string[];
  /** Exchange side: the item's id and folder. */
  itemId?: string;
  folder?: string;
}
