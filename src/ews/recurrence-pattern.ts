import ews from 'ews-javascript-api';
import type { ItemFields } from '../shared/item-fields.js';
import { fromRrule, type RecurrencePattern } from '../shared/rrule.js';

/** The calendar date (YYYY-MM-DD) of an instant in a time zone: where a series starts. */
export function localDate(iso: string, timeZone: string | undefined): string {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: timeZone ?? 'UTC', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
  } catch {
    return iso.slice(0, 10); // an unknown zone: the UTC date
  }
}

/** The library has these constructors, but its bundled typings declare them without arguments. */
interface PatternConstructors {
  DailyPattern: new (start: ews.DateTime, interval: number) => ews.Recurrence;
  WeeklyPattern: new (start: ews.DateTime, interval: number, days: ews.DayOfTheWeek[]) => ews.Recurrence;
  MonthlyPattern: new (start: ews.DateTime, interval: number, dayOfMonth: number) => ews.Recurrence;
  RelativeMonthlyPattern: new (start: ews.DateTime, interval: number, day: ews.DayOfTheWeek, index: ews.DayOfTheWeekIndex) => ews.Recurrence;
  YearlyPattern: new (start: ews.DateTime, month: ews.Month, dayOfMonth: number) => ews.Recurrence;
  RelativeYearlyPattern: new (start: ews.DateTime, month: ews.Month, day: ews.DayOfTheWeek, index: ews.DayOfTheWeekIndex) => ews.Recurrence;
}

const dateOnly = (ymd: string): ews.DateTime => new ews.DateTime(Date.parse(`${ymd}T00:00:00Z`));

/** A RecurrencePattern as the library's recurrence object (undefined for one EWS cannot express). */
export function ewsRecurrence(p: RecurrencePattern): ews.Recurrence | undefined {
  const R = ews.Recurrence as unknown as PatternConstructors;
  const start = dateOnly(p.startDate);
  const day = (p.daysOfWeek?.[0] ?? 1) as ews.DayOfTheWeek;
  const index = (p.weekIndex ?? 0) as ews.DayOfTheWeekIndex;
  let r: ews.Recurrence;
  switch (p.kind) {
    case 'daily':
      r = new R.DailyPattern(start, p.interval);
      break;
    case 'weekly': {
      const weekly = new R.WeeklyPattern(start, p.interval, (p.daysOfWeek ?? []) as ews.DayOfTheWeek[]);
      if (p.firstDayOfWeek !== undefined) (weekly as unknown as { FirstDayOfWeek: number }).FirstDayOfWeek = p.firstDayOfWeek;
      r = weekly;
      break;
    }
    case 'absoluteMonthly':
      r = new R.MonthlyPattern(start, p.interval, p.dayOfMonth ?? 1);
      break;
    case 'relativeMonthly':
      r = new R.RelativeMonthlyPattern(start, p.interval, day, index);
      break;
    case 'absoluteYearly':
      r = new R.YearlyPattern(start, (p.month ?? 1) as ews.Month, p.dayOfMonth ?? 1);
      break;
    case 'relativeYearly':
      r = new R.RelativeYearlyPattern(start, (p.month ?? 1) as ews.Month, day, index);
      break;
    default:
      return undefined;
  }
  if (p.count !== undefined) r.NumberOfOccurrences = p.count;
  else if (p.until) r.EndDate = dateOnly(p.until);
  return r;
}

/** The item's recurrence (RRULE in its time zone) as the library's object, if it has one EWS can express. */
export function recurrenceOf(f: ItemFields): ews.Recurrence | undefined {
  if (!f.recurrence?.rrule || !f.start) return undefined;
  const pattern = fromRrule(f.recurrence.rrule, localDate(f.start, f.timeZone));
  return pattern ? ewsRecurrence(pattern) : undefined;
}
