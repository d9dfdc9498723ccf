import { childNamed, type XmlElement } from '../shared/safe-xml.js';
import { formatUtc, ianaFromWindows, instantOfWallClock, parseDateTime, wallClockAt } from '../shared/time-zones.js';
import { changeKeyOf, occurrenceIdOf } from './ids.js';
import type { StoredItem } from './mailbox-store.js';
import { el } from './xml-writer.js';

/**
 * EWS recurrence (RecurrenceType) expanded into occurrences, in the item's own time zone
 * so that wall-clock times survive DST changes, as Exchange does.
 */
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const INDEX_NAMES = ['First', 'Second', 'Third', 'Fourth', 'Last'];
/** Expansion stops here for series without an end. */
const MAX_OCCURRENCES = 1_000;

export interface Occurrence {
  /** 1-based position in the pattern (deleted ones count), as InstanceIndex. */
  index: number;
  originalStart: number;
  start: number;
  end: number;
  modified: boolean;
}

interface CivilDate {
  y: number;
  m: number; // 1-12
  d: number;
}

const toDays = (c: CivilDate): number => Date.UTC(c.y, c.m - 1, c.d) / 86_400_000;
const fromDays = (days: number): CivilDate => {
  const d = new Date(days * 86_400_000);
  return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate() };
};
const weekday = (c: CivilDate): number => new Date(Date.UTC(c.y, c.m - 1, c.d)).getUTCDay();
const daysInMonth = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();

function parseDate(text: string | undefined): CivilDate | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(text?.trim() ?? '');
  return m ? { y: +m[1], m: +m[2], d: +m[3] } : undefined;
}

const num = (e: XmlElement, name: string, fallback: number): number => {
  const t = childNamed(e, name)?.text.trim();
  return t ? Number(t) : fallback;
};

/** The Nth (or last) day matching `days` in a month. */
function relativeDay(y: number, m: number, days: string, indexName: string): number | undefined {
  const matches: number[] = [];
  for (let d = 1; d <= daysInMonth(y, m); d++) {
    const wd = weekday({ y, m, d });
    const ok = days === 'Day' || (days === 'Weekday' && wd >= 1 && wd <= 5) || (days === 'WeekendDay' && (wd === 0 || wd === 6)) || DAY_NAMES[wd] === days;
    if (ok) matches.push(d);
  }
  const i = INDEX_NAMES.indexOf(indexName);
  if (i < 0) return undefined;
  return i === 4 ? matches[matches.length - 1] : matches[i];
}

const DAY_TYPES = new Set([...DAY_NAMES, 'Day', 'Weekday', 'WeekendDay']);
const PATTERNS = new Set(['DailyRecurrence', 'WeeklyRecurrence', 'AbsoluteMonthlyRecurrence', 'RelativeMonthlyRecurrence', 'AbsoluteYearlyRecurrence', 'RelativeYearlyRecurrence',
  'DailyRegeneration', 'WeeklyRegeneration', 'MonthlyRegeneration', 'YearlyRegeneration']);
const RANGES = new Set(['NoEndRecurrence', 'EndDateRecurrence', 'NumberedRecurrence']);

/** The problem with a value of a recurrence: ErrorSchemaValidation for what the schema refuses, ErrorInvalidRecurrence for what Exchange refuses. */
export interface RecurrenceProblem {
  readonly code: 'ErrorSchemaValidation' | 'ErrorInvalidRecurrence';
  readonly message: string;
}

const schemaProblem = (element: string, value: string, type: string): RecurrenceProblem => ({
  code: 'ErrorSchemaValidation',
  message: `The request failed schema validation: The '${element}' element is invalid - The value '${value}' is invalid according to its datatype '${type}'.`,
});

/**
 * What Exchange refuses in a Recurrence before storing it: values outside the schema's
 * enumerations and types (DayOfWeekIndex "Sixth", a weekday "Funday", DayOfMonth "NaN"), and
 * numbers outside what Exchange accepts (Interval 1-999, DayOfMonth 1-31, 1-999 occurrences).
 */
export function recurrenceProblem(recurrence: XmlElement): RecurrenceProblem | undefined {
  const pattern = recurrence.children.find((c) => PATTERNS.has(c.local));
  const range = recurrence.children.find((c) => RANGES.has(c.local));
  const unknown = recurrence.children.find((c) => !PATTERNS.has(c.local) && !RANGES.has(c.local));
  if (unknown) return { code: 'ErrorSchemaValidation', message: `The request failed schema validation: The element 'Recurrence' has invalid child element '${unknown.local}'.` };
  if (!pattern || !range) return { code: 'ErrorSchemaValidation', message: `The request failed schema validation: The element 'Recurrence' has incomplete content: a pattern and a range are required.` };
  const integer = (e: XmlElement, name: string, min: number, max: number): RecurrenceProblem | undefined => {
    const t = childNamed(e, name)?.text.trim();
    if (t === undefined) return undefined;
    if (!/^[+-]?\d{1,10}$/.test(t)) return schemaProblem(name, t, 'http://www.w3.org/2001/XMLSchema:int');
    const n = Number(t);
    return n < min || n > max ? { code: 'ErrorInvalidRecurrence', message: `${name} ${n} is out of range (${min} to ${max}).` } : undefined;
  };
  const problem =
    integer(pattern, 'Interval', 1, 999) ??
    integer(pattern, 'DayOfMonth', 1, 31) ??
    integer(range, 'NumberOfOccurrences', 1, 999);
  if (problem) return problem;
  const days = childNamed(pattern, 'DaysOfWeek')?.text.trim();
  if (days !== undefined) {
    const bad = days.split(/\s+/).find((d) => !DAY_TYPES.has(d));
    if (bad !== undefined) return schemaProblem('DaysOfWeek', days, 'http://schemas.microsoft.com/exchange/services/2006/types:DaysOfWeekType');
  }
  const index = childNamed(pattern, 'DayOfWeekIndex')?.text.trim();
  if (index !== undefined && !INDEX_NAMES.includes(index)) return schemaProblem('DayOfWeekIndex', index, 'http://schemas.microsoft.com/exchange/services/2006/types:DayOfWeekIndexType');
  const month = childNamed(pattern, 'Month')?.text.trim();
  if (month !== undefined && !MONTH_NAMES.includes(month)) return schemaProblem('Month', month, 'http://schemas.microsoft.com/exchange/services/2006/types:MonthNamesType');
  const firstDay = childNamed(pattern, 'FirstDayOfWeek')?.text.trim();
  if (firstDay !== undefined && !DAY_NAMES.includes(firstDay)) return schemaProblem('FirstDayOfWeek', firstDay, 'http://schemas.microsoft.com/exchange/services/2006/types:DayOfWeekType');
  const needs: Record<string, string[]> = {
    WeeklyRecurrence: ['DaysOfWeek'], RelativeMonthlyRecurrence: ['DaysOfWeek', 'DayOfWeekIndex'], AbsoluteMonthlyRecurrence: ['DayOfMonth'],
    RelativeYearlyRecurrence: ['DaysOfWeek', 'DayOfWeekIndex', 'Month'], AbsoluteYearlyRecurrence: ['DayOfMonth', 'Month'],
  };
  const missing = (needs[pattern.local] ?? []).find((n) => !childNamed(pattern, n));
  if (missing) return { code: 'ErrorSchemaValidation', message: `The request failed schema validation: The element '${pattern.local}' has incomplete content. List of possible elements expected: '${missing}'.` };
  for (const name of ['StartDate', 'EndDate']) {
    const t = childNamed(range, name)?.text.trim();
    if (t !== undefined && (!parseDate(t) || Number.isNaN(toDays(parseDate(t)!)))) return schemaProblem(name, t, 'http://www.w3.org/2001/XMLSchema:date');
  }
  return undefined;
}

/** No monthly or yearly rule looks at more months than this (one that never matches ends here, not in an endless loop). */
const MAX_MONTHS = 12 * 1_000;

/** Candidate dates of the pattern from `start`, in order (bounded). */
function* patternDates(pattern: XmlElement, start: CivilDate): Generator<CivilDate> {
  const interval = Math.max(1, num(pattern, 'Interval', 1) || 1);
  const startDays = toDays(start);
  switch (pattern.local) {
    case 'DailyRecurrence':
      if (!Number.isFinite(startDays)) return;
      for (let d = startDays; ; d += interval) yield fromDays(d);
    case 'WeeklyRecurrence': {
      const days = (childNamed(pattern, 'DaysOfWeek')?.text ?? '').trim().split(/\s+/).map((n) => DAY_NAMES.indexOf(n)).filter((n) => n >= 0);
      const firstDay = Math.max(0, DAY_NAMES.indexOf(childNamed(pattern, 'FirstDayOfWeek')?.text.trim() ?? 'Sunday'));
      if (!days.length) return;
      const weekStart = startDays - ((weekday(start) - firstDay + 7) % 7);
      const order = [...days].sort((a, b) => ((a - firstDay + 7) % 7) - ((b - firstDay + 7) % 7));
      for (let w = weekStart; ; w += 7 * interval) {
        for (const wd of order) {
          const d = w + ((wd - firstDay + 7) % 7);
          if (d >= startDays) yield fromDays(d);
        }
      }
    }
    case 'AbsoluteMonthlyRecurrence':
    case 'RelativeMonthlyRecurrence':
    case 'AbsoluteYearlyRecurrence':
    case 'RelativeYearlyRecurrence': {
      const yearly = pattern.local.includes('Yearly');
      const step = yearly ? 12 : interval;
      const month = yearly ? MONTH_NAMES.indexOf(childNamed(pattern, 'Month')?.text.trim() ?? '') + 1 : start.m;
      if (yearly && month < 1) return;
      let y = start.y;
      let m = yearly ? month : start.m;
      if (yearly && m < start.m) y++;
      for (let months = 0; months < MAX_MONTHS * step; months += step) {
        const day = pattern.local.startsWith('Absolute')
          ? Math.min(num(pattern, 'DayOfMonth', start.d), daysInMonth(y, m))
          : relativeDay(y, m, childNamed(pattern, 'DaysOfWeek')?.text.trim() ?? '', childNamed(pattern, 'DayOfWeekIndex')?.text.trim() ?? '');
        if (day !== undefined && Number.isFinite(day) && toDays({ y, m, d: day }) >= startDays) yield { y, m, d: day };
        m += step;
        while (m > 12) {
          m -= 12;
          y++;
        }
      }
      return;
    }
    default:
      return; // regeneration patterns (tasks) have no fixed occurrences
  }
}

export function itemZone(item: StoredItem): string {
  const tz = item.props.StartTimeZone;
  const id = typeof tz === 'object' ? tz.attrs.Id : undefined;
  return (id && ianaFromWindows(id)) || 'UTC';
}

/** All occurrences of a recurring master (up to `until`, and at most MAX_OCCURRENCES). */
export function expandOccurrences(item: StoredItem, until = Number.POSITIVE_INFINITY): Occurrence[] {
  const recurrence = item.props.Recurrence;
  const startText = item.props.Start;
  const endText = item.props.End;
  if (typeof recurrence !== 'object' || typeof startText !== 'string') return [];
  const pattern = recurrence.children.find((c) => c.local.endsWith('Recurrence') && !/^(NoEnd|EndDate|Numbered)Recurrence$/.test(c.local));
  const range = recurrence.children.find((c) => /^(NoEnd|EndDate|Numbered)Recurrence$/.test(c.local));
  if (!pattern || !range) return [];
  const zone = itemZone(item);
  const masterStart = parseDateTime(startText)!;
  const duration = (typeof endText === 'string' ? parseDateTime(endText)! : masterStart) - masterStart;
  const time = wallClockAt(masterStart, zone);
  const rangeStart = parseDate(childNamed(range, 'StartDate')?.text) ?? { y: time.year, m: time.month, d: time.day };
  const endDate = range.local === 'EndDateRecurrence' ? parseDate(childNamed(range, 'EndDate')?.text) : undefined;
  const count = range.local === 'NumberedRecurrence' ? num(range, 'NumberOfOccurrences', 1) : MAX_OCCURRENCES;
  const out: Occurrence[] = [];
  let index = 0;
  for (const date of patternDates(pattern, rangeStart)) {
    if (index >= Math.min(count, MAX_OCCURRENCES)) break;
    if (endDate && toDays(date) > toDays(endDate)) break;
    const originalStart = instantOfWallClock({ year: date.y, month: date.m, day: date.d, hour: time.hour, minute: time.minute, second: time.second }, zone);
    if (originalStart > until) break;
    index++;
    if (item.deletedOccurrences?.has(originalStart)) continue;
    const override = item.modifiedOccurrences?.get(originalStart);
    const oStart = typeof override?.props.Start === 'string' ? parseDateTime(override.props.Start)! : originalStart;
    const oEnd = typeof override?.props.End === 'string' ? parseDateTime(override.props.End)! : oStart + duration;
    out.push({ index, originalStart, start: oStart, end: oEnd, modified: override !== undefined });
  }
  return out;
}

/**
 * After a series' times or pattern change, exceptions and deleted occurrences that are no
 * longer occurrences of it go, as Exchange discards them (Outlook warns about it).
 */
export function pruneExceptions(item: StoredItem): void {
  if (!item.modifiedOccurrences?.size && !item.deletedOccurrences?.size) return;
  const starts = new Set(expandOccurrences({ ...item, modifiedOccurrences: undefined, deletedOccurrences: undefined }).map((o) => o.originalStart));
  for (const start of [...(item.modifiedOccurrences?.keys() ?? [])]) if (!starts.has(start)) item.modifiedOccurrences!.delete(start);
  for (const start of [...(item.deletedOccurrences ?? [])]) if (!starts.has(start)) item.deletedOccurrences!.delete(start);
}

/** The occurrence with this InstanceIndex (deleted ones return undefined). */
export function occurrenceAt(item: StoredItem, index: number): Occurrence | undefined {
  return expandOccurrences(item).find((o) => o.index === index);
}

function occurrenceInfo(name: string, item: StoredItem, o: Occurrence): string {
  return (
    `<t:${name}>${el('t:ItemId', null, { Id: occurrenceIdOf(item.mailbox, item.seq, o.index), ChangeKey: changeKeyOf(item.version) })}` +
    `${el('t:Start', formatUtc(o.start))}${el('t:End', formatUtc(o.end))}${el('t:OriginalStart', formatUtc(o.originalStart))}</t:${name}>`
  );
}

/** FirstOccurrence, LastOccurrence, ModifiedOccurrences and DeletedOccurrences of a master, as XML. */
export function recurrenceSummary(item: StoredItem): Record<string, string> {
  const all = expandOccurrences(item);
  const out: Record<string, string> = {};
  if (all.length) out.FirstOccurrence = occurrenceInfo('FirstOccurrence', item, all[0]);
  const recurrence = item.props.Recurrence as XmlElement;
  const finite = recurrence.children.some((c) => c.local === 'EndDateRecurrence' || c.local === 'NumberedRecurrence');
  if (finite && all.length) out.LastOccurrence = occurrenceInfo('LastOccurrence', item, all[all.length - 1]);
  const modified = all.filter((o) => o.modified);
  if (modified.length) out.ModifiedOccurrences = `<t:ModifiedOccurrences>${modified.map((o) => occurrenceInfo('Occurrence', item, o)).join('')}</t:ModifiedOccurrences>`;
  if (item.deletedOccurrences?.size) {
    const starts = [...item.deletedOccurrences].sort((a, b) => a - b);
    out.DeletedOccurrences = `<t:DeletedOccurrences>${starts.map((s) => `<t:DeletedOccurrence>${el('t:Start', formatUtc(s))}</t:DeletedOccurrence>`).join('')}</t:DeletedOccurrences>`;
  }
  return out;
}

