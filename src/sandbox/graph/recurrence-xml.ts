import type { RecurrencePattern } from '../../shared/rrule.js';
import { childNamed, type XmlElement } from '../../shared/safe-xml.js';

/**
 * The store keeps a series' recurrence as EWS wrote it (t:Recurrence); Graph reads and writes
 * the same series as a patternedRecurrence. This is the EWS side of that: the element as a
 * RecurrencePattern and back.
 */

const NS_T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const GROUPS: Record<string, number> = { Day: 7, Weekday: 8, WeekendDay: 9 };
const INDEX_NAMES = ['First', 'Second', 'Third', 'Fourth', 'Last'];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const PATTERN_OF: Record<string, RecurrencePattern['kind']> = {
  DailyRecurrence: 'daily', WeeklyRecurrence: 'weekly', AbsoluteMonthlyRecurrence: 'absoluteMonthly', RelativeMonthlyRecurrence: 'relativeMonthly',
  AbsoluteYearlyRecurrence: 'absoluteYearly', RelativeYearlyRecurrence: 'relativeYearly',
};
const ELEMENT_OF = Object.fromEntries(Object.entries(PATTERN_OF).map(([k, v]) => [v, k])) as Record<RecurrencePattern['kind'], string>;

const el = (local: string, text: string, children: XmlElement[] = []): XmlElement => ({ name: `t:${local}`, local, uri: NS_T, attrs: {}, children, text });

/** A stored t:Recurrence as a pattern; undefined for what Graph has no pattern of (task regeneration). */
export function patternOfXml(recurrence: XmlElement): RecurrencePattern | undefined {
  const pattern = recurrence.children.find((c) => PATTERN_OF[c.local]);
  const range = recurrence.children.find((c) => /^(NoEnd|EndDate|Numbered)Recurrence$/.test(c.local));
  if (!pattern || !range) return undefined;
  const text = (e: XmlElement, name: string): string | undefined => childNamed(e, name)?.text.trim();
  const days = text(pattern, 'DaysOfWeek')?.split(/\s+/).map((d) => GROUPS[d] ?? DAY_NAMES.indexOf(d)).filter((d) => d >= 0);
  const month = text(pattern, 'Month');
  const index = text(pattern, 'DayOfWeekIndex');
  const firstDay = text(pattern, 'FirstDayOfWeek');
  const count = text(range, 'NumberOfOccurrences');
  const until = text(range, 'EndDate');
  return {
    kind: PATTERN_OF[pattern.local],
    interval: Number(text(pattern, 'Interval') ?? 1),
    startDate: (text(range, 'StartDate') ?? '').slice(0, 10),
    ...(days?.length ? { daysOfWeek: days } : {}),
    ...(firstDay ? { firstDayOfWeek: DAY_NAMES.indexOf(firstDay) } : {}),
    ...(text(pattern, 'DayOfMonth') ? { dayOfMonth: Number(text(pattern, 'DayOfMonth')) } : {}),
    ...(index ? { weekIndex: INDEX_NAMES.indexOf(index) } : {}),
    ...(month ? { month: MONTH_NAMES.indexOf(month) + 1 } : {}),
    ...(range.local === 'NumberedRecurrence' && count ? { count: Number(count) } : {}),
    ...(range.local === 'EndDateRecurrence' && until ? { until: until.slice(0, 10) } : {}),
  };
}

/** A pattern as the t:Recurrence EWS would have stored (its elements in the schema's order). */
export function xmlOfPattern(p: RecurrencePattern): XmlElement {
  const days = (p.daysOfWeek ?? []).map((d) => DAY_NAMES[d] ?? Object.keys(GROUPS).find((g) => GROUPS[g] === d) ?? 'Day').join(' ');
  const children: XmlElement[] = [];
  if (!p.kind.endsWith('Yearly')) children.push(el('Interval', String(p.interval)));
  if (p.kind === 'weekly') children.push(el('DaysOfWeek', days), el('FirstDayOfWeek', DAY_NAMES[p.firstDayOfWeek ?? 0]));
  if (p.kind === 'relativeMonthly' || p.kind === 'relativeYearly') children.push(el('DaysOfWeek', days), el('DayOfWeekIndex', INDEX_NAMES[p.weekIndex ?? 0]));
  if (p.kind === 'absoluteMonthly' || p.kind === 'absoluteYearly') children.push(el('DayOfMonth', String(p.dayOfMonth ?? 1)));
  if (p.kind.endsWith('Yearly')) children.push(el('Month', MONTH_NAMES[(p.month ?? 1) - 1]));
  const range = p.count !== undefined
    ? el('NumberedRecurrence', '', [el('StartDate', p.startDate), el('NumberOfOccurrences', String(p.count))])
    : p.until ? el('EndDateRecurrence', '', [el('StartDate', p.startDate), el('EndDate', p.until)]) : el('NoEndRecurrence', '', [el('StartDate', p.startDate)]);
  return el('Recurrence', '', [el(ELEMENT_OF[p.kind], '', children), range]);
}
