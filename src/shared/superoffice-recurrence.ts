/**
 * SuperOffice's recurrence patterns (RecurrenceInfo: Daily, Weekly, Monthly, Yearly with an
 * end date or a counter): read from and written as the Web API's JSON, and expanded to the
 * occurrences' start times. SuperOffice keeps one appointment row per occurrence, tied by the
 * rule id; a series never runs without end. Times are expanded in UTC wall-clock. Used by the
 * simulator (which lays the rows out) and the adapter (which finds each row's occurrence).
 */
export type Weekday = 'Monday' | 'Tuesday' | 'Wednesday' | 'Thursday' | 'Friday' | 'Saturday' | 'Sunday';
export const WEEKDAYS: readonly Weekday[] = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export interface RecurrenceRule {
  readonly pattern: 'Daily' | 'Weekly' | 'Monthly' | 'Yearly';
  readonly day?: { readonly pattern: 'EveryWorkday' | 'EveryWeekday' | 'EveryCyclicDay'; readonly cycle: number };
  readonly week?: { readonly weekdays: readonly Weekday[]; readonly cycle: number };
  readonly month?: { readonly pattern: 'DayOfMonth' | 'WeekdayOfMonth'; readonly cycle: number; readonly day: number; readonly weekday?: Weekday; readonly weekOfMonth?: WeekOfMonth };
  /** Yearly: cycle is the month (1 = January), as the definitions say. */
  readonly year?: { readonly pattern: 'DayOfMonth' | 'WeekdayOfMonth'; readonly month: number; readonly day: number; readonly weekday?: Weekday; readonly weekOfMonth?: WeekOfMonth };
  readonly endType: 'EndDate' | 'Counter';
  readonly counter?: number;
  /** EndDate: the last day an occurrence may start on (UTC ms, inclusive of that day). */
  readonly endDate?: number;
}

export type WeekOfMonth = 'First' | 'Second' | 'Third' | 'Fourth' | 'Last';
const WEEK_INDEX: Record<WeekOfMonth, number> = { First: 1, Second: 2, Third: 3, Fourth: 4, Last: -1 };
const DAY = 86_400_000;
/** SuperOffice refuses never-ending series; the simulator also caps a counter. */
export const MAX_OCCURRENCES = 500;

/** The start times of every occurrence, the first at `start` when it matches the pattern. */
export function expand(rule: RecurrenceRule, start: number): number[] {
  const out: number[] = [];
  const first = new Date(start);
  const timeOfDay = start - Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), first.getUTCDate());
  const last = rule.endType === 'EndDate' ? (rule.endDate ?? start) + DAY - 1 : Number.POSITIVE_INFINITY;
  const limit = rule.endType === 'Counter' ? Math.min(rule.counter ?? 1, MAX_OCCURRENCES) : MAX_OCCURRENCES;
  const push = (dayStart: number): boolean => {
    const at = dayStart + timeOfDay;
    if (at < start) return true;
    if (at > last || out.length >= limit) return false;
    out.push(at);
    return true;
  };
  const startDay = start - timeOfDay;
  for (let i = 0; i < 20_000 && out.length < limit; i++) {
    let days: number[] = [];
    if (rule.pattern === 'Daily') {
      const d = rule.day ?? { pattern: 'EveryCyclicDay', cycle: 1 };
      const day = startDay + i * DAY * (d.pattern === 'EveryCyclicDay' ? Math.max(1, d.cycle) : 1);
      const weekday = new Date(day).getUTCDay();
      if (d.pattern !== 'EveryCyclicDay' && (weekday === 0 || weekday === 6)) continue;
      days = [day];
    } else if (rule.pattern === 'Weekly') {
      const w = rule.week ?? { weekdays: [WEEKDAYS[first.getUTCDay()]], cycle: 1 };
      const weekStart = startDay - new Date(startDay).getUTCDay() * DAY + i * 7 * DAY * Math.max(1, w.cycle);
      days = WEEKDAYS.map((name, k) => (w.weekdays.includes(name) ? weekStart + k * DAY : -1)).filter((d) => d >= 0);
    } else {
      const monthly = rule.pattern === 'Monthly';
      const m = monthly ? rule.month! : { ...rule.year!, cycle: 12 };
      const monthIndex = monthly ? first.getUTCMonth() + i * Math.max(1, m.cycle) : rule.year!.month - 1 + i * 12;
      const y = first.getUTCFullYear() + Math.floor(monthIndex / 12);
      const mo = ((monthIndex % 12) + 12) % 12;
      const day = m.pattern === 'DayOfMonth' ? dayOfMonth(y, mo, m.day) : weekdayOfMonth(y, mo, m.weekday ?? 'Monday', m.weekOfMonth ?? 'First');
      days = day === undefined ? [] : [day];
    }
    for (const d of days) if (!push(d)) return out;
  }
  return out;
}

function dayOfMonth(y: number, month: number, day: number): number | undefined {
  const d = Date.UTC(y, month, day);
  return new Date(d).getUTCMonth() === month ? d : undefined; // the 31st of a 30-day month: none
}

function weekdayOfMonth(y: number, month: number, weekday: Weekday, week: WeekOfMonth): number {
  const target = WEEKDAYS.indexOf(weekday);
  const n = WEEK_INDEX[week];
  if (n > 0) {
    const firstDay = Date.UTC(y, month, 1);
    const offset = (target - new Date(firstDay).getUTCDay() + 7) % 7;
    return firstDay + (offset + (n - 1) * 7) * DAY;
  }
  const lastDay = Date.UTC(y, month + 1, 0);
  const back = (new Date(lastDay).getUTCDay() - target + 7) % 7;
  return lastDay - back * DAY;
}

const WEEKDAY_NAMES = new Set<string>(WEEKDAYS);
type Json = Record<string, unknown>;

/** The Web API's date: UTC; without an offset read as UTC. */
function dateOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** RecurrenceInfo JSON → a rule; a string saying why when SuperOffice cannot run it (no end, Custom, Unknown). */
export function ruleFromInfo(r: Json): RecurrenceRule | string {
  const pattern = r.Pattern;
  if (pattern !== 'Daily' && pattern !== 'Weekly' && pattern !== 'Monthly' && pattern !== 'Yearly') return `Recurrence.Pattern "${String(pattern)}" is not supported`;
  const endType = r.RecurrenceEndType;
  if (endType !== 'EndDate' && endType !== 'Counter') return 'a recurrence needs an end: RecurrenceEndType EndDate or Counter';
  const int = (v: unknown, min: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= min ? v : min);
  const weekdays = (v: unknown): Weekday[] => String(v ?? '').split(/\s*,\s*/).filter((w) => WEEKDAY_NAMES.has(w)) as Weekday[];
  const sub = (key: string): Json => (r[key] && typeof r[key] === 'object' ? (r[key] as Json) : {});
  const endDate = dateOf(r.EndDate);
  if (endType === 'EndDate' && endDate === undefined) return 'Recurrence.EndDate is not a date';
  const monthLike = (m: Json, cycle: number): NonNullable<RecurrenceRule['month']> => {
    const kind = m.Pattern === 'WeekdayOfMonth' ? 'WeekdayOfMonth' : 'DayOfMonth';
    return {
      pattern: kind, cycle, day: typeof m.Day === 'number' ? m.Day : 1,
      ...(kind === 'WeekdayOfMonth' ? { weekday: (WEEKDAY_NAMES.has(String(m.Weekday)) ? m.Weekday : 'Monday') as Weekday, weekOfMonth: (['First', 'Second', 'Third', 'Fourth', 'Last'] as const).find((w) => w === m.WeekOfMonth) ?? 'First' } : {}),
    };
  };
  const rule: RecurrenceRule = {
    pattern, endType,
    ...(endType === 'Counter' ? { counter: int(r.RecurrenceCounter, 1) } : { endDate }),
    ...(pattern === 'Daily' ? { day: { pattern: (['EveryWorkday', 'EveryWeekday', 'EveryCyclicDay'] as const).find((p) => p === sub('DayPattern').Pattern) ?? 'EveryCyclicDay', cycle: int(sub('DayPattern').Cycle, 1) } } : {}),
    ...(pattern === 'Weekly' ? { week: { weekdays: weekdays(sub('WeekPattern').Weekdays), cycle: int(sub('WeekPattern').Cycle, 1) } } : {}),
    ...(pattern === 'Monthly' ? { month: monthLike(sub('MonthPattern'), int(sub('MonthPattern').Cycle, 1)) } : {}),
    ...(pattern === 'Yearly' ? { year: { ...monthLike(sub('YearPattern'), 12), month: int(sub('YearPattern').Cycle, 1) } } : {}),
  };
  if (rule.week && !rule.week.weekdays.length) return 'WeekPattern.Weekdays names no weekday';
  return rule;
}

/** A rule as RecurrenceInfo JSON (what the adapter sends; the simulator adds RecurrenceId and Dates). */
export function infoFromRule(rule: RecurrenceRule, start: number): Json {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const last = rule.endType === 'EndDate' ? (rule.endDate ?? start) : (expand(rule, start).at(-1) ?? start);
  return {
    IsRecurrence: true, StartDate: iso(start), EndDate: iso(last), RecurrenceEndType: rule.endType, RecurrenceCounter: rule.endType === 'Counter' ? (rule.counter ?? 1) : 0, Pattern: rule.pattern,
    DayPattern: rule.day ? { Pattern: rule.day.pattern, Cycle: rule.day.cycle } : null,
    WeekPattern: rule.week ? { Weekdays: rule.week.weekdays.join(', '), Cycle: rule.week.cycle } : null,
    MonthPattern: rule.month ? { Pattern: rule.month.pattern, Cycle: rule.month.cycle, Day: rule.month.day, Weekday: rule.month.weekday ?? 'Unknown', WeekOfMonth: rule.month.weekOfMonth ?? 'Unknown' } : null,
    YearPattern: rule.year ? { Pattern: rule.year.pattern, Cycle: rule.year.month, Day: rule.year.day, Weekday: rule.year.weekday ?? 'Unknown', WeekOfMonth: rule.year.weekOfMonth ?? 'Unknown' } : null,
  };
}
