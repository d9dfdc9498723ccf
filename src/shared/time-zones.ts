/**
 * Windows time zone ids (what Exchange uses) ↔ IANA ids (what Intl and the CRM use), and
 * wall-clock ↔ UTC conversion in a zone, so that a 09:00 weekly meeting stays at 09:00
 * across a DST change. The table holds the zones of CLDR's windowsZones "001" mapping
 * that operators meet most; unknown ids fall back to UTC and are reported by callers.
 */
const WINDOWS_TO_IANA: Record<string, string> = {
  UTC: 'UTC',
  'Greenwich Standard Time': 'Atlantic/Reykjavik',
  'GMT Standard Time': 'Europe/London',
  'W. Europe Standard Time': 'Europe/Berlin',
  'Central Europe Standard Time': 'Europe/Budapest',
  'Romance Standard Time': 'Europe/Paris',
  'Central European Standard Time': 'Europe/Warsaw',
  'E. Europe Standard Time': 'Europe/Chisinau',
  'FLE Standard Time': 'Europe/Kiev',
  'GTB Standard Time': 'Europe/Bucharest',
  'Russian Standard Time': 'Europe/Moscow',
  'Turkey Standard Time': 'Europe/Istanbul',
  'Israel Standard Time': 'Asia/Jerusalem',
  'South Africa Standard Time': 'Africa/Johannesburg',
  'Arabian Standard Time': 'Asia/Dubai',
  'India Standard Time': 'Asia/Calcutta',
  'China Standard Time': 'Asia/Shanghai',
  'Singapore Standard Time': 'Asia/Singapore',
  'Tokyo Standard Time': 'Asia/Tokyo',
  'Korea Standard Time': 'Asia/Seoul',
  'AUS Eastern Standard Time': 'Australia/Sydney',
  'New Zealand Standard Time': 'Pacific/Auckland',
  'Eastern Standard Time': 'America/New_York',
  'Central Standard Time': 'America/Chicago',
  'Mountain Standard Time': 'America/Denver',
  'US Mountain Standard Time': 'America/Phoenix',
  'Pacific Standard Time': 'America/Los_Angeles',
  'Alaskan Standard Time': 'America/Anchorage',
  'Hawaiian Standard Time': 'Pacific/Honolulu',
  'Atlantic Standard Time': 'America/Halifax',
  'E. South America Standard Time': 'America/Sao_Paulo',
  'SA Pacific Standard Time': 'America/Bogota',
  'Central Standard Time (Mexico)': 'America/Mexico_City',
};

const IANA_TO_WINDOWS: Record<string, string> = Object.fromEntries(Object.entries(WINDOWS_TO_IANA).map(([w, i]) => [i, w]));
IANA_TO_WINDOWS['Etc/UTC'] = 'UTC';

export function ianaFromWindows(windowsId: string): string | undefined {
  if (WINDOWS_TO_IANA[windowsId]) return WINDOWS_TO_IANA[windowsId];
  // Some clients send IANA ids where Windows ids belong; accept them.
  return isIanaZone(windowsId) ? windowsId : undefined;
}

export function windowsFromIana(iana: string): string | undefined {
  return IANA_TO_WINDOWS[iana] ?? (WINDOWS_TO_IANA[iana] ? iana : undefined);
}

export function isIanaZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.includes('/') || zone === 'UTC';
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

export interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock time in `zone` at instant `ms`. */
export function wallClockAt(ms: number, zone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second };
}

/** Offset of `zone` from UTC at instant `ms`, in milliseconds (east positive). */
export function zoneOffsetMs(ms: number, zone: string): number {
  const w = wallClockAt(ms, zone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant at which `zone`'s clocks show `wall`: the earlier one in a repeated hour
 * (autumn), and in a skipped hour (spring) the instant the same distance past the gap.
 */
export function instantOfWallClock(wall: WallClock, zone: string): number {
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  const before = zoneOffsetMs(naive - 43_200_000, zone);
  const after = zoneOffsetMs(naive + 43_200_000, zone);
  const shows = (ms: number): boolean => {
    const w = wallClockAt(ms, zone);
    return w.year === wall.year && w.month === wall.month && w.day === wall.day && w.hour === wall.hour && w.minute === wall.minute;
  };
  const candidates = [naive - before, naive - after].filter(shows);
  return candidates.length ? Math.min(...candidates) : naive - before;
}

/**
 * Parses an xs:dateTime. With an offset or Z it is an instant; without one ("floating")
 * it is read as wall-clock time in `zone` (EWS: the request's TimeZoneContext).
 */
export function parseDateTime(text: string, zone = 'UTC'): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?(Z|[+-]\d\d:\d\d)?$/.exec(text.trim());
  if (!m) return undefined;
  const wall: WallClock = { year: +m[1], month: +m[2], day: +m[3], hour: +(m[4] ?? 0), minute: +(m[5] ?? 0), second: +(m[6] ?? 0) };
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  if (Number.isNaN(naive)) return undefined;
  const tz = m[7];
  if (tz === 'Z') return naive;
  if (tz) {
    const sign = tz[0] === '-' ? -1 : 1;
    return naive - sign * (Number(tz.slice(1, 3)) * 3_600_000 + Number(tz.slice(4, 6)) * 60_000);
  }
  return zone === 'UTC' ? naive : instantOfWallClock(wall, zone);
}

/** 2026-11-26T09:00:00Z — the form Exchange returns times in. */
export function formatUtc(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
