import { Refused } from './store.js';

/**
 * The archive providers' OData-like query ($select, $filter, $orderBy, $top, $skip) over rows
 * of named columns, with the operators of docs-pages/restriction-types.md (and the OData
 * comparisons eq, ne, gt, ge, lt, le the Web API also accepts). A column or operator the
 * provider does not know is refused, as the Web API does.
 */
export type ColumnType = 'int' | 'string' | 'bool' | 'date' | 'associate';
export type ArchiveRow = Record<string, string | number | boolean | null>;

export interface ArchiveQuery {
  select?: string;
  filter?: string;
  orderBy?: string;
  top?: number;
  skip?: number;
}

/** A server page: rows beyond it are reached through odata.nextLink. */
export const PAGE_SIZE = 1_000;

type Condition = (row: ArchiveRow) => boolean;

export function runArchive(columns: Record<string, ColumnType>, rows: ArchiveRow[], q: ArchiveQuery): { value: ArchiveRow[]; more: boolean } {
  const known = new Map(Object.keys(columns).map((c) => [c.toLowerCase(), c]));
  const column = (name: string): string => {
    const c = known.get(name.toLowerCase());
    if (!c) throw new Refused(`unknown archive column "${name}"`);
    return c;
  };
  const condition = q.filter ? parseFilter(q.filter, (name) => column(name), columns) : () => true;
  let out = rows.filter(condition);
  const order = (q.orderBy ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const [name, dir] = s.split(/\s+/);
    return { c: column(name), desc: /^desc$/i.test(dir ?? '') };
  });
  if (order.length) {
    out = [...out].sort((a, b) => {
      for (const { c, desc } of order) {
        const x = a[c];
        const y = b[c];
        const cmp = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
        if (cmp) return desc ? -cmp : cmp;
      }
      return 0;
    });
  }
  const skip = Math.max(0, q.skip ?? 0);
  const top = Math.min(q.top ?? PAGE_SIZE, PAGE_SIZE);
  const page = out.slice(skip, skip + top);
  const more = out.length > skip + page.length;
  const selected = q.select ? q.select.split(',').map((s) => column(s.trim())) : Object.keys(columns);
  return { value: page.map((r) => Object.fromEntries(selected.map((c) => [c, r[c] ?? null]))), more };
}

/** "a op 'x' and (b op y or c op('1','2'))" → a predicate. */
function parseFilter(text: string, column: (name: string) => string, types: Record<string, ColumnType>): Condition {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const expect = (t: string): void => {
    if (tokens[i] !== t) throw new Refused(`$filter: expected "${t}" at "${tokens.slice(i).join(' ')}"`);
    i++;
  };
  const values = (): string[] => {
    if (peek() === '(') {
      i++;
      const out: string[] = [];
      while (peek() !== ')') {
        if (peek() === undefined) throw new Refused('$filter: unclosed "("');
        if (peek() === ',') i++;
        else out.push(unquote(tokens[i++]));
      }
      expect(')');
      return out;
    }
    const v = tokens[i++];
    if (v === undefined) throw new Refused('$filter: a value is missing');
    const out = [unquote(v)];
    while (peek() === ',') {
      i++;
      out.push(unquote(tokens[i++]));
    }
    return out;
  };
  const term = (): Condition => {
    if (peek() === '(') {
      i++;
      const inner = expr();
      expect(')');
      return inner;
    }
    const name = tokens[i++];
    if (name === undefined) throw new Refused('$filter: a column is missing');
    const c = column(name);
    const op = tokens[i++];
    if (op === undefined) throw new Refused(`$filter: an operator is missing after ${name}`);
    return compare(c, types[c], op, values());
  };
  const expr = (): Condition => {
    let left = term();
    for (;;) {
      const t = peek()?.toLowerCase();
      if (t !== 'and' && t !== 'or') return left;
      i++;
      const right = term();
      const l = left;
      left = t === 'and' ? (r) => l(r) && right(r) : (r) => l(r) || right(r);
    }
  };
  const result = expr();
  if (i < tokens.length) throw new Refused(`$filter: unexpected "${tokens.slice(i).join(' ')}"`);
  return result;
}

function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /\s*('(?:[^']|'')*'|\(|\)|,|[^\s(),']+)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < text.length && (m = re.exec(text))) {
    out.push(m[1]);
    at = re.lastIndex;
  }
  if (text.slice(at).trim()) throw new Refused(`$filter: cannot read "${text.slice(at)}"`);
  return out;
}

const unquote = (t: string): string => (t.startsWith("'") ? t.slice(1, -1).replace(/''/g, "'") : t);

function compare(c: string, type: ColumnType, op: string, raw: string[]): Condition {
  const o = op.toLowerCase();
  const asDate = (v: string): number => {
    const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? (v.includes('T') ? v : `${v}T00:00:00Z`) : `${v}Z`);
    if (Number.isNaN(ms)) throw new Refused(`$filter: "${v}" is not a date`);
    return ms;
  };
  const num = (r: ArchiveRow): number => (type === 'date' ? Date.parse(String(r[c])) : Number(r[c]));
  const day = (ms: number): number => Math.floor(ms / 86_400_000);
  if (type === 'date') {
    const v = raw.map(asDate);
    switch (o) {
      case 'aftertime': return (r) => num(r) >= v[0]; // "after or equal to"
      case 'beforetime': return (r) => num(r) < v[0];
      case 'datetime': return (r) => num(r) === v[0];
      case 'after': return (r) => day(num(r)) > day(v[0]);
      case 'before': return (r) => day(num(r)) < day(v[0]);
      case 'date': return (r) => day(num(r)) === day(v[0]);
      case 'datebetween': return (r) => day(num(r)) >= day(v[0]) && day(num(r)) <= day(v[1] ?? v[0]);
      case 'gt': return (r) => num(r) > v[0];
      case 'ge': return (r) => num(r) >= v[0];
      case 'lt': return (r) => num(r) < v[0];
      case 'le': return (r) => num(r) <= v[0];
      default: throw new Refused(`$filter: "${op}" is not an operator for the date column ${c}`);
    }
  }
  if (type === 'int' || type === 'associate') {
    const v = raw.map(Number);
    if (v.some(Number.isNaN)) throw new Refused(`$filter: ${c} takes numbers`);
    switch (o) {
      case 'equals': case 'eq': return (r) => num(r) === v[0];
      case 'unequals': case 'ne': return (r) => num(r) !== v[0];
      case 'greater': case 'gt': return (r) => num(r) > v[0];
      case 'ge': return (r) => num(r) >= v[0];
      case 'less': case 'lt': return (r) => num(r) < v[0];
      case 'le': return (r) => num(r) <= v[0];
      case 'between': return (r) => num(r) >= v[0] && num(r) <= (v[1] ?? v[0]);
      case 'oneof': case 'associateisoneof': return (r) => v.includes(num(r));
      case 'notoneof': case 'associateisnotoneof': return (r) => !v.includes(num(r));
      default: throw new Refused(`$filter: "${op}" is not an operator for the number column ${c}`);
    }
  }
  if (type === 'bool') {
    const want = /^(1|true)$/i.test(raw[0] ?? '');
    if (o !== 'set' && o !== 'eq' && o !== 'equals') throw new Refused(`$filter: "${op}" is not an operator for the yes/no column ${c}`);
    return (r) => Boolean(r[c]) === want;
  }
  const lower = raw.map((v) => v.toLowerCase());
  const s = (r: ArchiveRow): string => String(r[c] ?? '').toLowerCase();
  switch (o) {
    case 'is': case 'eq': case 'equals': return (r) => s(r) === lower[0];
    case 'isnot': case 'ne': return (r) => s(r) !== lower[0];
    case 'begins': return (r) => s(r).startsWith(lower[0]);
    case 'notbegins': return (r) => !s(r).startsWith(lower[0]);
    case 'contains': return (r) => s(r).includes(lower[0]);
    case 'notcontains': return (r) => !s(r).includes(lower[0]);
    case 'oneof': return (r) => lower.includes(s(r));
    default: throw new Refused(`$filter: "${op}" is not an operator for the text column ${c}`);
  }
}
