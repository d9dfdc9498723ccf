import type { ColumnType } from './archive.js';

/**
 * The person fields an administrator added to the simulated tenant: user-defined fields (keyed
 * by ProgId, "SuperOffice:N", in the Person archive as personUdef/SuperOffice:N) and extra fields
 * (x_…, personExtra/x_…). The set is the one SuperOffice's generated archive reference shows for
 * the Person provider; list fields are served as their item's text, as the archive's slim
 * answer does. A tenant without a field refuses its column, as the Web API does.
 */
export interface PersonCustomField {
  /** The key in PersonEntity.CustomFields (and UserDefinedFields / ExtraFields). */
  readonly key: string;
  /** The Person archive's column. */
  readonly column: string;
  readonly type: ColumnType;
}

const udef = (n: number, type: ColumnType): PersonCustomField => ({ key: `SuperOffice:${n}`, column: `personUdef/SuperOffice:${n}`, type });
const extra = (name: string, type: ColumnType): PersonCustomField => ({ key: name, column: `personExtra/${name}`, type });

export const PERSON_CUSTOM_FIELDS: readonly PersonCustomField[] = [
  udef(1, 'string'), udef(2, 'string'), udef(3, 'int'), udef(6, 'bool'), udef(7, 'string'), udef(9, 'string'), udef(10, 'string'), udef(11, 'string'),
  extra('x_person_integer', 'int'), extra('x_person_boolean', 'bool'), extra('x_person_shorttext', 'string'), extra('x_person_shorttext_list', 'string'),
];

const byKey = new Map(PERSON_CUSTOM_FIELDS.map((f) => [f.key.toLowerCase(), f]));

/** The tenant's field of a CustomFields / UserDefinedFields / ExtraFields key (undefined: no such field). */
export const personCustomField = (key: string): PersonCustomField | undefined => byKey.get(key.toLowerCase());

/** The archive value of a stored field value. */
export function archiveValue(field: PersonCustomField, stored: string | undefined): string | number | boolean | null {
  if (stored === undefined || stored === '') return field.type === 'string' ? '' : null;
  if (field.type === 'int') return Number.isFinite(Number(stored)) ? Number(stored) : null;
  if (field.type === 'bool') return /^(1|true)$/i.test(stored);
  return stored;
}
