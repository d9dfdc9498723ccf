import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { patternOfXml, xmlOfPattern } from '../../../src/sandbox/graph/recurrence-xml.js';
import { graphRecurrenceOf, patternOfGraph } from '../../../src/shared/graph-recurrence.js';
import { fromRrule, toRrule } from '../../../src/shared/rrule.js';

const RULES = [
  'FREQ=DAILY;INTERVAL=2;COUNT=5',
  'FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270131',
  'FREQ=WEEKLY;BYDAY=FR',
  'FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6',
  'FREQ=MONTHLY;BYDAY=-1FR;COUNT=3',
  'FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=7;COUNT=3',
  'FREQ=YEARLY;BYMONTH=3;BYDAY=2TU',
];

describe('Graph patternedRecurrence', () => {
  it('an RRULE through Graph\'s patternedRecurrence (and the EWS element the sandbox keeps) comes back the same', () => {
    for (const rule of RULES) {
      const pattern = fromRrule(rule, '2026-12-07')!;
      const graph = graphRecurrenceOf(pattern, 'W. Europe Standard Time');
      assert.equal(graph.range.recurrenceTimeZone, 'W. Europe Standard Time');
      const back = patternOfGraph(JSON.parse(JSON.stringify(graph)));
      assert.ok(typeof back !== 'string', `${rule}: ${String(back)}`);
      assert.equal(toRrule(back), rule, 'through Graph');
      assert.equal(toRrule(patternOfXml(xmlOfPattern(back))!), rule, 'through the EWS element');
    }
  });

  it('Graph\'s shapes: day names, week index words, a range with no end, Graph\'s "no date"', () => {
    const graph = graphRecurrenceOf(fromRrule('FREQ=MONTHLY;BYDAY=-1FR', '2026-12-07')!, 'UTC');
    assert.deepEqual(graph.pattern, { type: 'relativeMonthly', interval: 1, month: 0, dayOfMonth: 0, daysOfWeek: ['friday'], firstDayOfWeek: 'sunday', index: 'last' });
    assert.deepEqual(graph.range, { type: 'noEnd', startDate: '2026-12-07', endDate: '0001-01-01', recurrenceTimeZone: 'UTC', numberOfOccurrences: 0 });
  });

  it('a value outside recurrencepattern.md is refused with what is wrong, never guessed', () => {
    const ok = graphRecurrenceOf(fromRrule('FREQ=WEEKLY;BYDAY=MO;COUNT=2', '2026-12-07')!, 'UTC');
    const bad = (pattern: Record<string, unknown>, range: Record<string, unknown> = {}): string | unknown => patternOfGraph({ pattern: { ...ok.pattern, ...pattern }, range: { ...ok.range, ...range } });
    assert.match(String(bad({ type: 'hourly' })), /pattern\.type 'hourly'/);
    assert.match(String(bad({ daysOfWeek: ['funday'] })), /daysOfWeek/);
    assert.match(String(bad({ daysOfWeek: [] })), /daysOfWeek is required/);
    assert.match(String(bad({ interval: 0 })), /interval 0/);
    assert.match(String(bad({ type: 'absoluteMonthly', dayOfMonth: 32 })), /dayOfMonth 32/);
    assert.match(String(bad({ type: 'relativeMonthly', index: 'sixth' })), /index 'sixth'/);
    assert.match(String(bad({}, { type: 'numbered', numberOfOccurrences: 0 })), /numberOfOccurrences 0/);
    assert.match(String(bad({}, { type: 'endDate', endDate: '2026-01-01' })), /endDate/);
    assert.match(String(patternOfGraph(null)), /needs a pattern and a range/);
  });
});
