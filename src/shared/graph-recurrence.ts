import type { RecurrencePattern } from './rrule.js';

/**
 * Microsoft Graph's patternedRecurrence (recurrencepattern.md, recurrencerange.md) ↔ the
 * sync's RecurrencePattern. Graph's pattern types are the same six; its days are names, its
 * week index a word, and a range without an end says so ("noEnd"). Pure: the Graph client and
 * the sandbox's Graph endpoint both speak it.
 */
export interface GraphRecurrence {
  pattern: {
    type: RecurrencePattern['kind'];
    interval: number;
    month: number;
    dayOfMonth: number;
    daysOfWeek: string[];
    firstDayOfWeek: string;
    index: string;
  };
  range: {
    type: 'endDate' | 'noEnd' | 'numbered';
    startDate: string;
    endDate: string;
    recurrenceTimeZone: string;
    numberOfOccurrences: number;
  };
}

export const GRAPH_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const INDEXES = ['first', 'second', 'third', 'fourth', 'last'];
const TYPES: ReadonlyArray<RecurrencePattern['kind']> = ['daily', 'weekly', 'absoluteMonthly', 'relativeMonthly', 'absoluteYearly', 'relativeYearly'];
/** Graph's "no date". */
const NO_DATE = '0001-01-01';

/** EWS's day groups (7 any day, 8 weekday, 9 weekend day) as the days they stand for. */
function dayNames(days: readonly number[]): string[] {
  const out: number[] = [];
  for (const d of days) out.push(...(d === 7 ? [0, 1, 2, 3, 4, 5, 6] : d === 8 ? [1, 2, 3, 4, 5] : d === 9 ? [6, 0] : [d]));
  return [...new Set(out)].map((d) => GRAPH_DAYS[d]);
}

export function graphRecurrenceOf(p: RecurrencePattern, timeZone: string): GraphRecurrence {
  const relative = p.kind === 'relativeMonthly' || p.kind === 'relativeYearly';
  return {
    pattern: {
      type: p.kind,
      interval: p.interval,
      month: p.kind.endsWith('Yearly') ? (p.month ?? 1) : 0,
      dayOfMonth: p.kind === 'absoluteMonthly' || p.kind === 'absoluteYearly' ? (p.dayOfMonth ?? 1) : 0,
      daysOfWeek: p.kind === 'weekly' || relative ? dayNames(p.daysOfWeek ?? []) : [],
      firstDayOfWeek: GRAPH_DAYS[p.firstDayOfWeek ?? 0],
      index: INDEXES[relative ? (p.weekIndex ?? 0) : 0],
    },
    range: {
      type: p.count !== undefined ? 'numbered' : p.until ? 'endDate' : 'noEnd',
      startDate: p.startDate,
      endDate: p.count === undefined && p.until ? p.until : NO_DATE,
      recurrenceTimeZone: timeZone,
      numberOfOccurrences: p.count ?? 0,
    },
  };
}

/** Why a Graph recurrence cannot be a RecurrencePattern (a value outside recurrencepattern.md's), or the pattern. */
export function patternOfGraph(value: unknown): RecurrencePattern | string {
  const r = value as { pattern?: Record<string, unknown>; range?: Record<string, unknown> } | null;
  const p = r?.pattern;
  const range = r?.range;
  if (!p || !range) return 'recurrence needs a pattern and a range';
  const type = String(p.type ?? '');
  if (!TYPES.includes(type as RecurrencePattern['kind'])) return `recurrence.pattern.type '${type}' is not one of ${TYPES.join(', ')}`;
  const kind = type as RecurrencePattern['kind'];
  const interval = Number(p.interval ?? 1);
  if (!Number.isInteger(interval) || interval < 1 || interval > 999) return `recurrence.pattern.interval ${String(p.interval)} is not 1 to 999`;
  const days = Array.isArray(p.daysOfWeek) ? p.daysOfWeek.map((d) => GRAPH_DAYS.indexOf(String(d).toLowerCase())) : [];
  if (days.some((d) => d < 0)) return `recurrence.pattern.daysOfWeek ${JSON.stringify(p.daysOfWeek)} names a day that is not one`;
  const needsDays = kind === 'weekly' || kind === 'relativeMonthly' || kind === 'relativeYearly';
  if (needsDays && !days.length) return `recurrence.pattern.daysOfWeek is required for a ${kind} pattern`;
  const dayOfMonth = Number(p.dayOfMonth ?? 0);
  if ((kind === 'absoluteMonthly' || kind === 'absoluteYearly') && !(Number.isInteger(dayOfMonth) && dayOfMonth >= 1 && dayOfMonth <= 31)) return `recurrence.pattern.dayOfMonth ${String(p.dayOfMonth)} is not 1 to 31`;
  const month = Number(p.month ?? 0);
  if (kind.endsWith('Yearly') && !(Number.isInteger(month) && month >= 1 && month <= 12)) return `recurrence.pattern.month ${String(p.month)} is not 1 to 12`;
  const index = INDEXES.indexOf(String(p.index ?? 'first').toLowerCase());
  if (index < 0) return `recurrence.pattern.index '${String(p.index)}' is not one of ${INDEXES.join(', ')}`;
  const firstDay = GRAPH_DAYS.indexOf(String(p.firstDayOfWeek ?? 'sunday').toLowerCase());
  if (firstDay < 0) return `recurrence.pattern.firstDayOfWeek '${String(p.firstDayOfWeek)}' is not a day`;
  const date = (v: unknown): string | undefined => (typeof v === 'string' && /^\d{4}-\d\d-\d\d$/.test(v) && v !== NO_DATE ? v : undefined);
  const startDate = date(range.startDate);
  if (!startDate) return `recurrence.range.startDate '${String(range.startDate)}' is not a date (YYYY-MM-DD)`;
  const rangeType = String(range.type ?? '');
  let end: { count?: number; until?: string } = {};
  if (rangeType === 'numbered') {
    const count = Number(range.numberOfOccurrences);
    if (!Number.isInteger(count) || count < 1 || count > 999) return `recurrence.range.numberOfOccurrences ${String(range.numberOfOccurrences)} is not 1 to 999`;
    end = { count };
  } else if (rangeType === 'endDate') {
    const until = date(range.endDate);
    if (!until || until < startDate) return `recurrence.range.endDate '${String(range.endDate)}' is not a date on or after the start date`;
    end = { until };
  } else if (rangeType !== 'noEnd') return `recurrence.range.type '${rangeType}' is not one of endDate, noEnd, numbered`;
  return {
    kind, interval, startDate, ...end,
    ...(needsDays ? { daysOfWeek: days } : {}),
    ...(kind === 'weekly' ? { firstDayOfWeek: firstDay } : {}),
    ...(kind === 'absoluteMonthly' || kind === 'absoluteYearly' ? { dayOfMonth } : {}),
    ...(kind === 'relativeMonthly' || kind === 'relativeYearly' ? { weekIndex: index } : {}),
    ...(kind.endsWith('Yearly') ? { month } : {}),
  };
}
