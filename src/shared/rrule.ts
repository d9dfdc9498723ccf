/**
 * EWS recurrence patterns ↔ RFC 5545 RRULEs. Pure, so it is tested without Exchange.
 * Days: 0 = Sunday … 6 = Saturday; 7 = any day, 8 = weekday, 9 = weekend day (EWS).
 */
export interface RecurrencePattern {
  kind: 'daily' | 'weekly' | 'absoluteMonthly' | 'relativeMonthly' | 'absoluteYearly' | 'relativeYearly';
  interval: number;
  daysOfWeek?: number[];
  firstDayOfWeek?: number;
  dayOfMonth?: number;
  /** 0 = First … 3 = Fourth, 4 = Last. */
  weekIndex?: number;
  /** 1-12 */
  month?: number;
  /** Range: a count, an end date (YYYY-MM-DD, inclusive), or neither (no end). */
  count?: number;
  until?: string;
  /** Start date of the range (YYYY-MM-DD). */
  startDate: string;
}

const BYDAY = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

function days(d: number[]): string[] {
  const out: string[] = [];
  for (const day of d) {
    if (day === 7) out.push(...BYDAY);
    else if (day === 8) out.push('MO', 'TU', 'WE', 'TH', 'FR');
    else if (day === 9) out.push('SA', 'SU');
    else out.push(BYDAY[day]);
  }
  return [...new Set(out)];
}

export function toRrule(p: RecurrencePattern): string {
  const parts: string[] = [];
  const freq = { daily: 'DAILY', weekly: 'WEEKLY', absoluteMonthly: 'MONTHLY', relativeMonthly: 'MONTHLY', absoluteYearly: 'YEARLY', relativeYearly: 'YEARLY' }[p.kind];
  parts.push(`FREQ=${freq}`);
  if (p.interval > 1 && !p.kind.endsWith('Yearly')) parts.push(`INTERVAL=${p.interval}`);
  if (p.kind === 'weekly') {
    parts.push(`BYDAY=${days(p.daysOfWeek ?? []).join(',')}`);
    if (p.firstDayOfWeek !== undefined && p.firstDayOfWeek !== 1) parts.push(`WKST=${BYDAY[p.firstDayOfWeek]}`);
  }
  if (p.kind === 'absoluteYearly' || p.kind === 'relativeYearly') parts.push(`BYMONTH=${p.month}`);
  if (p.kind === 'absoluteMonthly' || p.kind === 'absoluteYearly') parts.push(`BYMONTHDAY=${p.dayOfMonth}`);
  if (p.kind === 'relativeMonthly' || p.kind === 'relativeYearly') {
    const pos = p.weekIndex === 4 ? -1 : (p.weekIndex ?? 0) + 1;
    const d = days(p.daysOfWeek ?? []);
    if (d.length === 1) parts.push(`BYDAY=${pos}${d[0]}`);
    else parts.push(`BYDAY=${d.join(',')}`, `BYSETPOS=${pos}`);
  }
  if (p.count !== undefined) parts.push(`COUNT=${p.count}`);
  else if (p.until) parts.push(`UNTIL=${p.until.replace(/-/g, '')}`);
  return parts.join(';');
}

/** The inverse, for the CRM → Exchange direction; undefined for rules EWS cannot express. */
export function fromRrule(rrule: string, startDate: string): RecurrencePattern | undefined {
  const fields = Object.fromEntries(rrule.replace(/^RRULE:/, '').split(';').map((kv) => kv.split('=') as [string, string]));
  const interval = Number(fields.INTERVAL ?? 1);
  const count = fields.COUNT ? Number(fields.COUNT) : undefined;
  const until = fields.UNTIL ? `${fields.UNTIL.slice(0, 4)}-${fields.UNTIL.slice(4, 6)}-${fields.UNTIL.slice(6, 8)}` : undefined;
  const base = { interval, count, until, startDate };
  const byday = fields.BYDAY ? fields.BYDAY.split(',') : [];
  const dayNumber = (code: string): number => BYDAY.indexOf(code.slice(-2));
  // RFC 5545: what a rule leaves out is taken from the start (DTSTART)
  const start = new Date(`${startDate}T00:00:00Z`);
  switch (fields.FREQ) {
    case 'DAILY':
      return { kind: 'daily', ...base };
    case 'WEEKLY':
      return { kind: 'weekly', ...base, daysOfWeek: byday.length ? byday.map(dayNumber) : [start.getUTCDay()], firstDayOfWeek: fields.WKST ? BYDAY.indexOf(fields.WKST) : 1 };
    case 'MONTHLY':
    case 'YEARLY': {
      const yearly = fields.FREQ === 'YEARLY';
      const month = yearly ? Number(fields.BYMONTH ?? start.getUTCMonth() + 1) : undefined;
      if (fields.BYMONTHDAY || !byday.length) return { kind: yearly ? 'absoluteYearly' : 'absoluteMonthly', ...base, dayOfMonth: Number(fields.BYMONTHDAY ?? start.getUTCDate()), month };
      const position = fields.BYSETPOS ? Number(fields.BYSETPOS) : Number(/^(-?\d)/.exec(byday[0] ?? '')?.[1] ?? 1);
      return { kind: yearly ? 'relativeYearly' : 'relativeMonthly', ...base, daysOfWeek: byday.map(dayNumber), weekIndex: position === -1 ? 4 : position - 1, month };
    }
    default:
      return undefined;
  }
}
