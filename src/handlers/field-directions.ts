import { SYNCED_FIELDS, type FieldDirection, type SyncedField, type Towards } from '../config/index.js';
import type { ItemFields } from '../shared/item-fields.js';

/** Which way each field of an appointment or task travels (unnamed fields: both ways). */
export type FieldDirections = Readonly<Partial<Record<SyncedField, FieldDirection>>>;

/** The normalised properties each field the operator names stands for. */
const PROPERTIES: Record<SyncedField, ReadonlyArray<keyof ItemFields>> = {
  subject: ['subject'],
  body: ['body'],
  location: ['location'],
  // a series' rule and its occurrences are its times
  time: ['start', 'end', 'timeZone', 'timeZoneWindows', 'allDay', 'due', 'recurrence'],
  attendees: ['attendees', 'organizer'],
  // the categories that stand for the record's type (<sync><category>): its type, their category
  categories: ['crmType', 'typeCategory'],
  private: ['private'],
  reminder: ['reminder'],
  status: ['done', 'status', 'percentComplete'],
};

const flows = (direction: FieldDirection | undefined, towards: Towards): boolean =>
  direction === undefined || direction === 'two-way' || direction === (towards === 'crm' ? 'to-crm' : 'to-exchange');

/** The fields a write towards that side must leave as they are there. */
export function heldBack(directions: FieldDirections | undefined, towards: Towards): SyncedField[] {
  if (!directions) return [];
  return SYNCED_FIELDS.filter((f) => !flows(directions[f], towards));
}

/**
 * The fields to write towards a side: those held back take the side's own values (`current`,
 * the record or item as it is there). A create (no `current`) leaves them out — but the time:
 * a new appointment or task needs one, and nothing is overwritten by giving it.
 */
export function towardsSide(fields: ItemFields, held: readonly SyncedField[], current?: ItemFields): ItemFields {
  if (!held.length) return fields;
  const out: ItemFields = { ...fields };
  for (const field of held) {
    if (!current && field === 'time') continue;
    for (const p of PROPERTIES[field]) {
      if (current && current[p] !== undefined) (out as Record<string, unknown>)[p] = current[p];
      else delete out[p];
    }
  }
  return out;
}

/** Held-back fields as the mailbox store's properties (what an UpdateItem must not touch). */
export function propertiesOf(held: readonly SyncedField[]): Array<keyof ItemFields> {
  return held.flatMap((f) => PROPERTIES[f]);
}
