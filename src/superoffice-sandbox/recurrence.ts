/**
 * SuperOffice's recurrence patterns (RecurrenceInfo: Daily, Weekly, Monthly, Yearly with an
 * end date or a counter), expanded to occurrence start times. SuperOffice keeps one
 * appointment row per occurrence, tied by the rule id; a series never runs without end.
 * Times are expanded in UTC wall-clock (the simulator keeps no user time zone).
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
