/**
 * SuperOffice's time zone locations (GET /api/v1/TimeZone, an appointment's
 * PreferredTZLocation): an id, a country/region name, a code that is not an ISO code, and the
 * cities of the location. The simulator offers one location per IANA zone the runtime knows.
 */
export interface TzLocation {
  readonly id: number;
  readonly name: string;
  readonly code: string;
  readonly cities: string;
  readonly iana: string;
}

let table: TzLocation[] | undefined;

export function tzLocations(): TzLocation[] {
  if (!table) {
    const zones = [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])].sort();
    table = zones.map((iana, i) => {
      const [region, ...rest] = iana.split('/');
      const city = (rest.at(-1) ?? region).replace(/_/g, ' ');
      return { id: i + 1, name: rest.length ? `${region} - ${city}` : region, code: `L${String(i + 1).padStart(3, '0')}`, cities: city, iana };
    });
  }
  return table;
}

export function tzLocation(id: number): TzLocation | undefined {
  return tzLocations().find((t) => t.id === id);
}
