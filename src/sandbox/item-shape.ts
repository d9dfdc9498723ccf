import { childNamed, childrenNamed, type XmlElement } from '../shared/safe-xml.js';

/** What a client asked to get back: ItemShape / FolderShape. */
export interface ItemShape {
  readonly base: 'IdOnly' | 'Default' | 'AllProperties';
  /** FieldURI values of AdditionalProperties, e.g. "calendar:Start". */
  readonly fieldUris: readonly string[];
  /** IndexedFieldURI entries asked for (FieldURI + FieldIndex). */
  readonly indexed: ReadonlyArray<{ fieldUri: string; index: string }>;
  /** ExtendedFieldURI elements asked for. */
  readonly extended: readonly XmlElement[];
}

export function readShape(shape: XmlElement | undefined): ItemShape {
  const baseText = shape ? childNamed(shape, 'BaseShape')?.text.trim() : undefined;
  const base = baseText === 'IdOnly' || baseText === 'AllProperties' ? baseText : 'Default';
  const additional = shape ? childNamed(shape, 'AdditionalProperties') : undefined;
  return {
    base,
    fieldUris: additional ? childrenNamed(additional, 'FieldURI').map((f) => f.attrs.FieldURI ?? '') : [],
    indexed: additional ? childrenNamed(additional, 'IndexedFieldURI').map((f) => ({ fieldUri: f.attrs.FieldURI ?? '', index: f.attrs.FieldIndex ?? '' })) : [],
    extended: additional ? childrenNamed(additional, 'ExtendedFieldURI') : [],
  };
}

/**
 * The identity of an extended property: its property set (GUID or distinguished name) and
 * name or id, or its tag. The PropertyType is not part of it.
 */
export function extendedKey(uri: XmlElement): string {
  const a = uri.attrs;
  if (a.PropertyTag) return `tag:${Number(a.PropertyTag).toString(16)}`;
  const set = (a.PropertySetId ?? a.DistinguishedPropertySetId ?? '').toLowerCase();
  return `${set}:${a.PropertyName !== undefined ? `n:${a.PropertyName}` : `i:${a.PropertyId ?? ''}`}`;
}
