import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatUtc, ianaFromWindows, instantOfWallClock, parseDateTime, windowsFromIana, zoneOffsetMs } from '../../../src/shared/time-zones.js';

describe('time zones', () => {
  it('maps Windows ids to IANA and back', () => {
    assert.equal(ianaFromWindows('W. Europe Standard Time'), 'Europe/Berlin');
    assert.equal(ianaFromWindows('Pacific Standard Time'), 'America/Los_Angeles');
    assert.equal(ianaFromWindows('Europe/Oslo'), 'Europe/Oslo', 'IANA ids are accepted as they are');
    assert.equal(ianaFromWindows('Mars Standard Time'), undefined);
    assert.equal(windowsFromIana('Europe/Berlin'), 'W. Europe Standard Time');
  });

  it('parses instants with offsets and floating times in a zone', () => {
    assert.equal(formatUtc(parseDateTime('2026-12-01T09:00:00+01:00')!), '2026-12-01T08:00:00Z');
    assert.equal(formatUtc(parseDateTime('2026-12-01T09:00:00.123Z')!), '2026-12-01T09:00:00Z');
    assert.equal(formatUtc(parseDateTime('2026-07-01T09:00:00', 'Europe/Berlin')!), '2026-07-01T07:00:00Z');
    assert.equal(formatUtc(parseDateTime('2026-01-01T09:00:00', 'Europe/Berlin')!), '2026-01-01T08:00:00Z');
    assert.equal(parseDateTime('next tuesday'), undefined);
  });

  it('handles the DST gaps and overlaps', () => {
    // 02:30 on 29 March 2026 does not exist in Berlin; it resolves near the gap, never throws
    const gap = instantOfWallClock({ year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin');
    assert.ok(Math.abs(gap - Date.parse('2026-03-29T01:00:00Z')) <= 3_600_000);
    // 02:30 on 25 October 2026 happens twice; the earlier one is chosen
    const overlap = instantOfWallClock({ year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin');
    assert.equal(formatUtc(overlap), '2026-10-25T00:30:00Z');
    assert.equal(zoneOffsetMs(Date.parse('2026-07-01T00:00:00Z'), 'Europe/Berlin'), 7_200_000);
  });
});
