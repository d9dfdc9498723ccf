import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredItem } from '../../../src/sandbox/mailbox-store.js';
import { expandOccurrences } from '../../../src/sandbox/recurrence.js';
import { parseXml } from '../../../src/shared/safe-xml.js';
import { formatUtc } from '../../../src/shared/time-zones.js';

const T = 'http://schemas.microsoft.com/exchange/services/2006/types';
function master(start: string, end: string, recurrenceInner: string, zone?: string): StoredItem {
  const props: StoredItem['props'] = { Start: start, End: end, Recurrence: parseXml(`<t:Recurrence xmlns:t="${T}">${recurrenceInner}</t:Recurrence>`) };
  if (zone) props.StartTimeZone = parseXml(`<t:StartTimeZone xmlns:t="${T}" Id="${zone}"/>`);
  return { mailbox: 1, seq: 1, folder: 'calendar', kind: 'CalendarItem', version: 1, changeNumber: 1, createdChangeNumber: 1, created: 0, modified: 0, props, extended: new Map() };
}
const starts = (item: StoredItem): string[] => expandOccurrences(item).map((o) => formatUtc(o.start));

describe('recurrence expansion', () => {
  it('daily, every 2 days, numbered', () => {
    const item = master('2026-01-01T10:00:00Z', '2026-01-01T11:00:00Z', '<t:DailyRecurrence><t:Interval>2</t:Interval></t:DailyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-01Z</t:StartDate><t:NumberOfOccurrences>3</t:NumberOfOccurrences></t:NumberedRecurrence>');
    assert.deepEqual(starts(item), ['2026-01-01T10:00:00Z', '2026-01-03T10:00:00Z', '2026-01-05T10:00:00Z']);
  });

  it('weekly on two days, every other week, until an end date', () => {
    const item = master('2026-01-05T09:00:00Z', '2026-01-05T09:30:00Z', '<t:WeeklyRecurrence><t:Interval>2</t:Interval><t:DaysOfWeek>Monday Thursday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek></t:WeeklyRecurrence><t:EndDateRecurrence><t:StartDate>2026-01-05</t:StartDate><t:EndDate>2026-02-01</t:EndDate></t:EndDateRecurrence>');
    assert.deepEqual(starts(item), ['2026-01-05T09:00:00Z', '2026-01-08T09:00:00Z', '2026-01-19T09:00:00Z', '2026-01-22T09:00:00Z']);
  });

  it('absolute monthly on the 31st clamps to short months', () => {
    const item = master('2026-01-31T08:00:00Z', '2026-01-31T09:00:00Z', '<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>31</t:DayOfMonth></t:AbsoluteMonthlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-31</t:StartDate><t:NumberOfOccurrences>3</t:NumberOfOccurrences></t:NumberedRecurrence>');
    assert.deepEqual(starts(item), ['2026-01-31T08:00:00Z', '2026-02-28T08:00:00Z', '2026-03-31T08:00:00Z']);
  });

  it('relative monthly: the last Friday', () => {
    const item = master('2026-01-30T15:00:00Z', '2026-01-30T16:00:00Z', '<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Friday</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-01</t:StartDate><t:NumberOfOccurrences>3</t:NumberOfOccurrences></t:NumberedRecurrence>');
    assert.deepEqual(starts(item), ['2026-01-30T15:00:00Z', '2026-02-27T15:00:00Z', '2026-03-27T15:00:00Z']);
  });

  it('yearly: absolute and relative', () => {
    const abs = master('2026-07-04T12:00:00Z', '2026-07-04T13:00:00Z', '<t:AbsoluteYearlyRecurrence><t:DayOfMonth>4</t:DayOfMonth><t:Month>July</t:Month></t:AbsoluteYearlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-01</t:StartDate><t:NumberOfOccurrences>2</t:NumberOfOccurrences></t:NumberedRecurrence>');
    assert.deepEqual(starts(abs), ['2026-07-04T12:00:00Z', '2027-07-04T12:00:00Z']);
    const rel = master('2026-11-26T17:00:00Z', '2026-11-26T18:00:00Z', '<t:RelativeYearlyRecurrence><t:DaysOfWeek>Thursday</t:DaysOfWeek><t:DayOfWeekIndex>Fourth</t:DayOfWeekIndex><t:Month>November</t:Month></t:RelativeYearlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-01</t:StartDate><t:NumberOfOccurrences>2</t:NumberOfOccurrences></t:NumberedRecurrence>');
    assert.deepEqual(starts(rel), ['2026-11-26T17:00:00Z', '2027-11-25T17:00:00Z']);
  });

  it('keeps wall-clock time across DST in the item zone (New York, November)', () => {
    const item = master('2026-10-26T13:00:00Z', '2026-10-26T14:00:00Z', '<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-10-26</t:StartDate><t:NumberOfOccurrences>2</t:NumberOfOccurrences></t:NumberedRecurrence>', 'Eastern Standard Time');
    // 09:00 EDT = 13:00Z; after 1 November 09:00 EST = 14:00Z
    assert.deepEqual(starts(item), ['2026-10-26T13:00:00Z', '2026-11-02T14:00:00Z']);
  });

  it('deleted and modified occurrences', () => {
    const item = master('2026-01-01T10:00:00Z', '2026-01-01T11:00:00Z', '<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-01</t:StartDate><t:NumberOfOccurrences>3</t:NumberOfOccurrences></t:NumberedRecurrence>');
    item.deletedOccurrences = new Set([Date.parse('2026-01-02T10:00:00Z')]);
    item.modifiedOccurrences = new Map([[Date.parse('2026-01-03T10:00:00Z'), { props: { Start: '2026-01-03T15:00:00Z', End: '2026-01-03T16:00:00Z' } }]]);
    const all = expandOccurrences(item);
    assert.deepEqual(all.map((o) => [o.index, formatUtc(o.start), o.modified]), [[1, '2026-01-01T10:00:00Z', false], [3, '2026-01-03T15:00:00Z', true]]);
  });

  it('a series without end stops at a bound', () => {
    const item = master('2026-01-01T10:00:00Z', '2026-01-01T11:00:00Z', '<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:NoEndRecurrence><t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence>');
    assert.equal(expandOccurrences(item).length, 1_000);
    assert.equal(expandOccurrences(item, Date.parse('2026-01-10T00:00:00Z')).length, 9);
  });
});
