import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseXml } from '../../../src/shared/safe-xml.js';
import type { StoredItem } from '../../../src/sandbox/mailbox-store.js';
import { expandOccurrences, recurrenceProblem } from '../../../src/sandbox/recurrence.js';

const recurrence = (pattern: string): ReturnType<typeof parseXml> =>
  parseXml(`<t:Recurrence xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">${pattern}<t:NoEndRecurrence><t:StartDate>2027-01-01</t:StartDate></t:NoEndRecurrence></t:Recurrence>`);

const series = (pattern: string): StoredItem => ({ props: { Recurrence: recurrence(pattern), Start: '2027-01-01T09:00:00Z', End: '2027-01-01T10:00:00Z' } }) as unknown as StoredItem;

describe('recurrence expansion in the sandbox', () => {
  it('a pattern that never matches ends (no endless loop), whatever got stored', () => {
    for (const pattern of [
      '<t:RelativeYearlyRecurrence><t:DaysOfWeek>Monday</t:DaysOfWeek><t:DayOfWeekIndex>Sixth</t:DayOfWeekIndex><t:Month>March</t:Month></t:RelativeYearlyRecurrence>',
      '<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Funday</t:DaysOfWeek><t:DayOfWeekIndex>First</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence>',
      '<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>NaN</t:DayOfMonth></t:AbsoluteMonthlyRecurrence>',
      '<t:DailyRecurrence><t:Interval>NaN</t:Interval></t:DailyRecurrence>',
    ]) {
      assert.ok(expandOccurrences(series(pattern)).length <= 1_000, pattern);
      assert.notEqual(recurrenceProblem(recurrence(pattern)), undefined, `${pattern} is refused before it is stored`);
    }
  });

  it('valid patterns pass the check and expand as before', () => {
    const weekly = '<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday Wednesday</t:DaysOfWeek></t:WeeklyRecurrence>';
    assert.equal(recurrenceProblem(recurrence(weekly)), undefined);
    assert.equal(expandOccurrences(series(weekly), Date.UTC(2027, 0, 31)).length, 8, "Mondays and Wednesdays of January 2027: 4, 6, 11, 13, 18, 20, 25, 27");
    const yearly = '<t:RelativeYearlyRecurrence><t:DaysOfWeek>Monday</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex><t:Month>May</t:Month></t:RelativeYearlyRecurrence>';
    assert.equal(recurrenceProblem(recurrence(yearly)), undefined);
    assert.equal(new Date(expandOccurrences(series(yearly))[0]!.start).toISOString(), '2027-05-31T09:00:00.000Z');
  });
});
