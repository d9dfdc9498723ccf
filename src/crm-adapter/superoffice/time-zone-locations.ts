/**
 * SuperOffice keeps an appointment's zone as a time zone location (GET /api/v1/TimeZone:
 * TZLocationID, a name, and the location's cities), not as an IANA id. A zone maps to the
 * location whose cities name the zone's city ("Europe/Berlin" → a location with Berlin),
 * and back; a zone with no such location is sent without one (its times stay exact in UTC).
 */
export class TimeZoneLocations {
  private readonly byIana = new Map<string, number>();
  private readonly byId = new Map<number, string>();

  constructor(locations: ReadonlyArray<{ id: number; cities: string }>) {
    const zonesByCity = new Map<string, string[]>();
    for (const zone of ['UTC', ...Intl.supportedValuesOf('timeZone')]) {
      const city = cityOf(zone);
      zonesByCity.set(city, [...(zonesByCity.get(city) ?? []), zone]);
    }
    for (const l of locations) {
      for (const city of l.cities.split(/\s*[,;]\s*/).map((c) => c.toLowerCase()).filter(Boolean)) {
        for (const zone of zonesByCity.get(city) ?? []) {
          if (!this.byIana.has(zone)) this.byIana.set(zone, l.id);
          if (!this.byId.has(l.id)) this.byId.set(l.id, zone);
        }
      }
    }
  }

  locationOf(iana: string): number | undefined {
    return this.byIana.get(iana);
  }

  ianaOf(id: number): string | undefined {
    return this.byId.get(id);
  }
}

/** "America/Argentina/Buenos_Aires" → "buenos aires". */
const cityOf = (zone: string): string => (zone.split('/').at(-1) ?? zone).replace(/_/g, ' ').toLowerCase();
