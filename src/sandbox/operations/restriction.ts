import { childNamed, type XmlElement } from '../../shared/safe-xml.js';
import { parseDateTime } from '../../shared/time-zones.js';
import { EwsResponseError } from '../ews-context.js';
import { DATE_TIME_ELEMENTS, elementOfFieldUri } from '../item-properties.js';
import { extendedKey } from '../item-shape.js';
import type { StoredItem } from '../mailbox-store.js';

/**
 * The subset of EWS restrictions the sandbox evaluates: comparisons, Exists, Contains,
 * And/Or/Not, on item properties (FieldURI) and extended properties (ExtendedFieldURI).
 * An unsupported construct is an error, never a silently wrong answer.
 */
export type ItemPredicate = (item: StoredItem) => boolean;

function valueOf(item: StoredItem, path: XmlElement): string | undefined {
  if (path.local === 'ExtendedFieldURI') {
    const v = item.extended.get(extendedKey(path))?.value;
    return Array.isArray(v) ? v.join(' ') : (v as string | undefined);
  }
  if (path.local === 'FieldURI') {
    const uri = path.attrs.FieldURI ?? '';
    if (uri === 'item:ItemClass' && item.props.ItemClass === undefined) return { CalendarItem: 'IPM.Appointment', Task: 'IPM.Task', Contact: 'IPM.Contact' }[item.kind];
    if (uri === 'item:DateTimeCreated') return new Date(item.created).toISOString();
    if (uri === 'item:LastModifiedTime') return new Date(item.modified).toISOString();
    const name = elementOfFieldUri(item.kind, uri);
    const v = name ? item.props[name] : undefined;
    return typeof v === 'string' ? v : v?.text;
  }
  throw new EwsResponseError('ErrorUnsupportedPathForQuery', `The sandbox cannot restrict on <${path.name}>.`);
}

function isDatePath(path: XmlElement): boolean {
  const uri = path.attrs.FieldURI ?? '';
  return DATE_TIME_ELEMENTS.has(uri.split(':')[1] ?? '') || path.attrs.PropertyType === 'SystemTime';
}

function compare(a: string, b: string, asDate: boolean): number {
  if (asDate) return (parseDateTime(a) ?? 0) - (parseDateTime(b) ?? 0);
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a.localeCompare(b);
}

const COMPARISONS: Record<string, (c: number) => boolean> = {
  IsEqualTo: (c) => c === 0,
  IsNotEqualTo: (c) => c !== 0,
  IsGreaterThan: (c) => c > 0,
  IsGreaterThanOrEqualTo: (c) => c >= 0,
  IsLessThan: (c) => c < 0,
  IsLessThanOrEqualTo: (c) => c <= 0,
};

export function compileRestriction(node: XmlElement): ItemPredicate {
  const path = node.children.find((c) => c.local === 'FieldURI' || c.local === 'ExtendedFieldURI' || c.local === 'IndexedFieldURI');
  if (COMPARISONS[node.local]) {
    if (!path) throw new EwsResponseError('ErrorInvalidRestriction', `${node.local} needs a property path.`);
    const constant = childNamed(childNamed(node, 'FieldURIOrConstant') ?? node, 'Constant')?.attrs.Value;
    if (constant === undefined) throw new EwsResponseError('ErrorInvalidRestriction', 'The sandbox compares with constants only.');
    const test = COMPARISONS[node.local];
    const asDate = isDatePath(path);
    return (item) => {
      const v = valueOf(item, path);
      return v !== undefined && test(compare(v, constant, asDate));
    };
  }
  switch (node.local) {
    case 'Restriction':
      return node.children[0] ? compileRestriction(node.children[0]) : () => true;
    case 'And': {
      const parts = node.children.map(compileRestriction);
      return (item) => parts.every((p) => p(item));
    }
    case 'Or': {
      const parts = node.children.map(compileRestriction);
      return (item) => parts.some((p) => p(item));
    }
    case 'Not': {
      const inner = compileRestriction(node.children[0]);
      return (item) => !inner(item);
    }
    case 'Exists': {
      if (!path) throw new EwsResponseError('ErrorInvalidRestriction', 'Exists needs a property path.');
      return (item) => valueOf(item, path) !== undefined;
    }
    case 'Contains': {
      if (!path) throw new EwsResponseError('ErrorInvalidRestriction', 'Contains needs a property path.');
      const constant = childNamed(node, 'Constant')?.attrs.Value ?? '';
      const mode = node.attrs.ContainmentMode ?? 'Substring';
      const ignoreCase = (node.attrs.ContainmentComparison ?? 'Exact').includes('IgnoreCase');
      const norm = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
      return (item) => {
        const v = valueOf(item, path);
        if (v === undefined) return false;
        const [h, n] = [norm(v), norm(constant)];
        if (mode === 'FullString') return h === n;
        if (mode === 'Prefixed') return h.startsWith(n);
        return h.includes(n);
      };
    }
    default:
      throw new EwsResponseError('ErrorUnsupportedQueryFilter', `The sandbox does not evaluate <${node.local}> restrictions.`);
  }
}

export { valueOf as restrictionValueOf };
