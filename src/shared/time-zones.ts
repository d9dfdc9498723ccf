import { findIana, findWindows, WINDOWS_TO_IANA_MAP } from 'windows-iana';

/**
 * Windows time zone ids (what Exchange uses) ↔ IANA ids (what Intl and the CRM use), and
 * wall-clock ↔ UTC conversion in a zone, so that a 09:00 weekly meeting stays at 09:00
 * across a DST change. The mapping is CLDR's windowsZones (the windows-iana package): every
 * Windows zone, its "001" IANA zone first. A Windows id no table knows (an Outlook
 * "Customized Time Zone") maps to nothing — callers keep the Windows id, never UTC.
 */
const fromWindows = new Map<string, string | undefined>();

/** Every Windows time zone id CLDR knows. */
export const WINDOWS_ZONE_IDS: readonly string[] = [...new Set(WINDOWS_TO_IANA_MAP.map((e) => e.windowsName))];

export function ianaFromWindows(windowsId: string): string | undefined {
  if (windowsId === 'UTC') return 'UTC';
  if (!fromWindows.has(windowsId)) {
    // the first zone of the list this runtime's Intl knows (CLDR's own first in practice)
    const known = (findIana(windowsId) ?? []).find(isIanaZone);
    // some clients send IANA ids where Windows ids belong; accept them
    fromWindows.set(windowsId, known ?? (isIanaZone(windowsId) ? windowsId : undefined));
  }
  return fromWindows.get(windowsId);
}

export function windowsFromIana(iana: string): string | undefined {
  if (iana === 'UTC' || iana === 'Etc/UTC') return 'UTC';
  return findWindows(iana)?.[0] ?? (findIana(iana)?.length ? iana : undefined);
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
