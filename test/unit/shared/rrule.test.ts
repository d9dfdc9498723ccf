import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromRrule, toRrule } from '../../../src/shared/rrule.js';

describe('RRULE ↔ EWS recurrence pattern', () => {
  for (const rule of [
    'FREQ=DAILY;COUNT=10',
    'FREQ=DAILY;INTERVAL=3;UNTIL=20270131',
    'FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12',
    'FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU',
    'FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6',
    'FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;UNTIL=20271231',
    'FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1;COUNT=5',
    'FREQ=YEARLY;BYMONTH=11;BYDAY=4TH',
  ]) {
    it(`${rule} survives the round trip`, () => {
      const pattern = fromRrule(rule, '2026-12-07');
      assert.ok(pattern);
      assert.equal(toRrule(pattern), rule);
    });
  }

  it('parts a rule leaves out come from the start date, as RFC 5545 says (7 Dec 2026 is a Monday)', () => {
    assert.equal(toRrule(fromRrule('RRULE:FREQ=WEEKLY;COUNT=4', '2026-12-07')!), 'FREQ=WEEKLY;BYDAY=MO;COUNT=4');
    assert.equal(toRrule(fromRrule('FREQ=MONTHLY;COUNT=4', '2026-12-07')!), 'FREQ=MONTHLY;BYMONTHDAY=7;COUNT=4');
    assert.equal(toRrule(fromRrule('FREQ=YEARLY', '2026-12-07')!), 'FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=7');
  });

  it('a rule EWS cannot express is refused, not guessed', () => {
    assert.equal(fromRrule('FREQ=HOURLY;COUNT=3', '2026-12-07'), undefined);
  });
});
