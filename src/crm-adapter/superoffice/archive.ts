import { parseCrmRef, type CrmRef } from '../crm-port.js';
import type { SuperOfficeHttp } from './superoffice-http.js';

/** One page of an archive (OData) answer. */
export interface ArchivePage<R> {
  value: R[];
  'odata.nextLink'?: string;
}

/** Every row of an archive query (following odata.nextLink), up to `limit`. */
export async function readArchive<R>(http: SuperOfficeHttp, path: string, limit = Number.POSITIVE_INFINITY): Promise<R[]> {
  const out: R[] = [];
  let next: string | undefined = path;
  while (next && out.length < limit) {
    const page: ArchivePage<R> = (await http.request<ArchivePage<R>>('GET', next)).body;
    out.push(...page.value);
    next = page['odata.nextLink'];
  }
  return out;
}

/** A text value in an archive $filter. */
export const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** The SuperOffice id of a ref of this entity ("person:7" → 7). */
export function idOf(ref: CrmRef | null | undefined, entity: string): number | undefined {
  const p = parseCrmRef(ref);
  return p && p.entity === entity && /^\d+$/.test(p.id) ? Number(p.id) : undefined;
}
