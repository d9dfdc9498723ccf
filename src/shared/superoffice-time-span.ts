/** A .NET TimeSpan as SuperOffice's Web API writes it ([d.]hh:mm:ss[.fff]), in whole minutes: the adapter and the simulator read and write AlarmLeadTime with it. */

/** The minutes of a TimeSpan text (undefined: not one, or negative). */
export function minutesOfTimeSpan(span: unknown): number | undefined {
  const m = /^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$/.exec(typeof span === 'string' ? span : '');
  if (!m || m[1]) return undefined;
  return Number(m[2] ?? 0) * 1440 + Number(m[3]) * 60 + Number(m[4]);
}

/** Whole minutes as a TimeSpan text. */
export function timeSpanOfMinutes(minutes: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const days = Math.floor(minutes / 1440);
  return `${days ? `${days}.` : ''}${two(Math.floor((minutes % 1440) / 60))}:${two(minutes % 60)}:00`;
}
