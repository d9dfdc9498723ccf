import { fromRrule, toRrule, type RecurrencePattern } from '../../shared/rrule.js';
import { expand, WEEKDAYS, type RecurrenceRule, type WeekOfMonth } from '../../shared/superoffice-recurrence.js';
import { crmRef, parseCrmRef, type CrmRef } from '../crm-port.js';

/**
 * SuperOffice keeps a series as one appointment row per occurrence, tied by a rule id; the
 * sync sees it as one record — "appointment:series-<rule>-<associate>" — with an RRULE, the
 * occurrences without a row as EXDATEs, and the rows that differ from their occurrence as
 * exception records of their own. SuperOffice does not say which occurrence a moved row was:
 * rows are matched to the pattern's occurrences, exactly where they start on one, the rest
 * in time order.
 */
export const seriesRef = (ruleId: number, associateId: number): CrmRef => crmRef('appointment', `series-${ruleId}-${associateId}`);

export function parseSeriesRef(ref: CrmRef | null | undefined): { ruleId: number; associateId: number } | undefined {
  const m = /^series-(\d+)-(\d+)$/.exec(parseCrmRef(ref)?.id ?? '');
  return m ? { ruleId: Number(m[1]), associateId: Number(m[2]) } : undefined;
}

const WEEK_OF_MONTH: WeekOfMonth[] = ['First', 'Second', 'Third', 'Fourth', 'Last'];
const DAY = 86_400_000;

/**
 * An RRULE (times of `start`, UTC ms) as a SuperOffice rule, or why SuperOffice cannot run it.
 * A rule without end is bounded at `boundUntil` (SuperOffice refuses never-ending series).
 */
export function ruleOfRrule(rrule: string, start: number, boundUntil: number): RecurrenceRule | string {
  const p = fromRrule(rrule, new Date(start).toISOString().slice(0, 10));
  if (!p) return `SuperOffice cannot repeat ${rrule}`;
  if (/BYSETPOS|BYHOUR|BYMINUTE|BYWEEKNO|BYYEARDAY/.test(rrule)) return `SuperOffice cannot repeat ${rrule}`;
  const weekday = (d: number | undefined): (typeof WEEKDAYS)[number] => WEEKDAYS[d ?? 1];
  const end = p.count !== undefined ? { endType: 'Counter' as const, counter: p.count }
    : { endType: 'EndDate' as const, endDate: p.until ? Date.parse(`${p.until}T00:00:00Z`) : Math.floor(boundUntil / DAY) * DAY };
  switch (p.kind) {
    case 'daily': return { pattern: 'Daily', day: { pattern: 'EveryCyclicDay', cycle: p.interval }, ...end };
    case 'weekly': return { pattern: 'Weekly', week: { weekdays: [...new Set(p.daysOfWeek ?? [])].sort().map(weekday), cycle: p.interval }, ...end };
    case 'absoluteMonthly': return { pattern: 'Monthly', month: { pattern: 'DayOfMonth', cycle: p.interval, day: p.dayOfMonth ?? 1 }, ...end };
    case 'relativeMonthly':
      if ((p.daysOfWeek ?? []).length !== 1) return `SuperOffice repeats on one weekday of the month, not ${rrule}`;
      return { pattern: 'Monthly', month: { pattern: 'WeekdayOfMonth', cycle: p.interval, day: 1, weekday: weekday(p.daysOfWeek![0]), weekOfMonth: WEEK_OF_MONTH[p.weekIndex ?? 0] }, ...end };
    case 'absoluteYearly':
    case 'relativeYearly':
      if (p.interval > 1) return `SuperOffice repeats yearly every year, not ${rrule}`;
      if (p.kind === 'absoluteYearly') return { pattern: 'Yearly', year: { pattern: 'DayOfMonth', month: p.month ?? 1, day: p.dayOfMonth ?? 1 }, ...end };
      if ((p.daysOfWeek ?? []).length !== 1) return `SuperOffice repeats on one weekday of the month, not ${rrule}`;
      return { pattern: 'Yearly', year: { pattern: 'WeekdayOfMonth', month: p.month ?? 1, day: 1, weekday: weekday(p.daysOfWeek![0]), weekOfMonth: WEEK_OF_MONTH[p.weekIndex ?? 0] }, ...end };
  }
}

/** Does the RRULE repeat without end (no UNTIL, no COUNT)? */
export const isOpenRrule = (rrule: string): boolean => !/(?:^|;)(?:UNTIL|COUNT)=/.test(rrule.replace(/^RRULE:/, ''));

/**
 * A SuperOffice rule as an RRULE. An open series (one the sync bounded because SuperOffice
 * needs an end) is an RRULE without end again: its end date is the sync's, not the user's.
 */
export function rruleOfRule(rule: RecurrenceRule, start: number, open = false): string {
  const startDate = new Date(start).toISOString().slice(0, 10);
  const end = open ? {} : rule.endType === 'Counter' ? { count: rule.counter ?? 1 } : { until: new Date(rule.endDate ?? start).toISOString().slice(0, 10) };
  const day = (name: string | undefined): number => Math.max(0, WEEKDAYS.indexOf((name ?? 'Monday') as (typeof WEEKDAYS)[number]));
  let p: RecurrencePattern;
  if (rule.pattern === 'Daily') {
    p = rule.day?.pattern === 'EveryCyclicDay' || !rule.day ? { kind: 'daily', interval: rule.day?.cycle ?? 1, startDate, ...end } : { kind: 'weekly', interval: 1, daysOfWeek: [1, 2, 3, 4, 5], startDate, ...end };
  } else if (rule.pattern === 'Weekly') {
    p = { kind: 'weekly', interval: rule.week?.cycle ?? 1, daysOfWeek: (rule.week?.weekdays ?? []).map(day), startDate, ...end };
  } else if (rule.pattern === 'Monthly') {
    const m = rule.month!;
    p = m.pattern === 'DayOfMonth' ? { kind: 'absoluteMonthly', interval: m.cycle, dayOfMonth: m.day, startDate, ...end }
      : { kind: 'relativeMonthly', interval: m.cycle, daysOfWeek: [day(m.weekday)], weekIndex: WEEK_OF_MONTH.indexOf(m.weekOfMonth ?? 'First'), startDate, ...end };
  } else {
    const y = rule.year!;
    p = y.pattern === 'DayOfMonth' ? { kind: 'absoluteYearly', interval: 1, month: y.month, dayOfMonth: y.day, startDate, ...end }
      : { kind: 'relativeYearly', interval: 1, month: y.month, daysOfWeek: [day(y.weekday)], weekIndex: WEEK_OF_MONTH.indexOf(y.weekOfMonth ?? 'First'), startDate, ...end };
  }
  return toRrule(p);
}

export interface SeriesRow {
  readonly appointmentId: number;
  readonly start: number;
  readonly end: number;
  readonly title: string;
}

/** Each row's occurrence (its slot), and the occurrences without a row. */
export function matchRows<R extends SeriesRow>(rule: RecurrenceRule, patternStart: number, rows: readonly R[]): { slotOf: Map<R, number>; unmatched: number[] } {
  const slots = expand(rule, patternStart);
  const free = new Set(slots);
  const slotOf = new Map<R, number>();
  for (const row of rows) {
    if (free.has(row.start)) {
      slotOf.set(row, row.start);
      free.delete(row.start);
    }
  }
  // moved rows: to the free occurrences in time order
  const left = rows.filter((r) => !slotOf.has(r)).sort((a, b) => a.start - b.start || a.appointmentId - b.appointmentId);
  const freeSorted = [...free].sort((a, b) => a - b);
  for (const row of left) {
    if (!freeSorted.length) break;
    let best = 0;
    for (let i = 1; i < freeSorted.length; i++) if (Math.abs(freeSorted[i] - row.start) < Math.abs(freeSorted[best] - row.start)) best = i;
    slotOf.set(row, freeSorted[best]);
    freeSorted.splice(best, 1);
  }
  return { slotOf, unmatched: freeSorted };
}

/** A row as the archive lists it, with who changed it last and when. */
export interface WrittenSeriesRow extends SeriesRow {
  /** UpdatedDate, ms. */
  readonly updatedAt: number;
  readonly updatedBy: number;
}

/**
 * The row whose title and length are the series' own. SuperOffice keeps no series title: each
 * row has its own, and a user who changes one occurrence changes one row. So the shape (title
 * and length) most rows share wins — a moved occurrence votes too, it keeps the series' title;
 * on a tie (a short series with occurrences renamed), the shape of more moved rows (a rename
 * leaves its row on its occurrence), then the shape the sync last wrote (it writes every row
 * that is no exception at once), else the one left longest untouched (a single-row edit is an
 * exception made after the series). Of the winning rows, one on its occurrence.
 * Undefined for no rows.
 */
export function templateRowOf<R extends WrittenSeriesRow>(rows: readonly R[], onSlot: (row: R) => boolean, apiAssociateId: number | undefined): R | undefined {
  const groups = new Map<string, R[]>();
  for (const r of rows) {
    const shape = `${r.title}\n${r.end - r.start}`;
    groups.set(shape, [...(groups.get(shape) ?? []), r]);
  }
  const newest = (g: R[]): R => g.reduce((a, b) => (b.updatedAt > a.updatedAt ? b : a));
  const moved = (g: R[]): number => g.filter((r) => !onSlot(r)).length;
  const ranked = [...groups.values()].sort((a, b) =>
    b.length - a.length ||
    moved(b) - moved(a) ||
    Number(newest(b).updatedBy === apiAssociateId) - Number(newest(a).updatedBy === apiAssociateId) ||
    newest(a).updatedAt - newest(b).updatedAt ||
    a[0].start - b[0].start);
  return ranked[0] ? (ranked[0].find(onSlot) ?? ranked[0][0]) : undefined;
}
