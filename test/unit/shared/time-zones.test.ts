import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatUtc, ianaFromWindows, instantOfWallClock, isIanaZone, parseDateTime, windowsFromIana, WINDOWS_ZONE_IDS, zoneOffsetMs } from '../../../src/shared/time-zones.js';

describe('time zones', () => {
  it('maps Windows ids to IANA and back', () => {
    assert.equal(ianaFromWindows('W. Europe Standard Time'), 'Europe/Berlin');
    assert.equal(ianaFromWindows('Pacific Standard Time'), 'America/Los_Angeles');
    assert.equal(ianaFromWindows('Europe/Oslo'), 'Europe/Oslo', 'IANA ids are accepted as they are');
    assert.equal(ianaFromWindows('Mars Standard Time'), undefined);
    assert.equal(windowsFromIana('Europe/Berlin'), 'W. Europe Standard Time');
  });

  it('every Windows zone CLDR knows maps to an IANA zone this runtime knows, and back to itself', () => {
    assert.ok(WINDOWS_ZONE_IDS.length >= 139, `${WINDOWS_ZONE_IDS.length} zones`);
    const wrong = WINDOWS_ZONE_IDS.filter((id) => {
      const iana = ianaFromWindows(id);
      return !iana || !isIanaZone(iana) || windowsFromIana(iana) !== id;
    });
    assert.deepEqual(wrong, []);
    // the zones the old hand-made table lacked, which became UTC
    assert.deepEqual(['Egypt Standard Time', 'Pakistan Standard Time', 'SE Asia Standard Time', 'Arab Standard Time', 'Iran Standard Time', 'Argentina Standard Time'].map(ianaFromWindows),
      ['Africa/Cairo', 'Asia/Karachi', 'Asia/Bangkok', 'Asia/Riyadh', 'Asia/Tehran', 'America/Buenos_Aires']);
    assert.equal(windowsFromIana('Asia/Kolkata'), 'India Standard Time', 'an IANA alias finds its Windows zone');
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
