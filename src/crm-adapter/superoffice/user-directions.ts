import type { Logger } from '../../shared/logger.js';
import { readArchive } from './archive.js';
import type { SuperOfficeHttp } from './superoffice-http.js';

export type UserDirection = 'two-way' | 'to-crm' | 'to-exchange' | 'off';

const DIRECTIONS: readonly UserDirection[] = ['two-way', 'to-crm', 'to-exchange', 'off'];

/**
 * A direction as an administrator types or picks it: "to-crm", "To CRM", "TO_CRM" alike; a
 * yes/no field's no is off, its yes says nothing (the file's direction). Empty: not set;
 * anything else: unreadable.
 */
export function readDirection(value: unknown): UserDirection | 'unset' | 'unreadable' {
  if (value === null || value === undefined) return 'unset';
  if (typeof value === 'boolean') return value ? 'unset' : 'off';
  const text = String(value).trim().toLowerCase().replace(/[\s_]+/g, '-');
  if (!text) return 'unset';
  if (text === 'twoway') return 'two-way';
  return (DIRECTIONS as readonly string[]).includes(text) ? (text as UserDirection) : 'unreadable';
}

/**
 * Each SuperOffice user's direction, from a field on the user's own person card (every user
 * has one): the Person archive's rows that are a user's (correspondingAssociate), with the
 * field the operator names — one request per thousand users, not one per user (the
 * Preference API answers only for the calling user).
 */
export class UserDirections {
  /** Unreadable values already logged, so a refresh does not repeat them. */
  private readonly told = new Set<string>();

  constructor(private readonly http: SuperOfficeHttp, private readonly column: string, private readonly logger: Logger) {}

  async read(): Promise<ReadonlyMap<string, UserDirection>> {
    const select = ['correspondingAssociate/personEmail', this.column].join(',');
    const filter = 'correspondingAssociate/isActive set 1';
    const rows = await readArchive<Record<string, unknown>>(this.http, `/Person?$select=${encodeURIComponent(select)}&$filter=${encodeURIComponent(filter)}`);
    const out = new Map<string, UserDirection>();
    for (const row of rows) {
      const email = String(row['correspondingAssociate/personEmail'] ?? '').trim().toLowerCase();
      if (!email) continue;
      const value = row[this.column];
      const direction = readDirection(value);
      if (direction === 'unreadable') {
        const key = `${email}\u0000${String(value)}`;
        if (!this.told.has(key)) {
          this.told.add(key);
          this.logger.warn({ event: 'policy.direction-unreadable', mailbox: email, field: this.column, value: String(value) },
            `${email}: SuperOffice's ${this.column} is "${String(value)}", not one of ${DIRECTIONS.join(', ')}; the mailbox follows the file's direction`);
        }
        continue;
      }
      if (direction !== 'unset') out.set(email, direction);
    }
    return out;
  }
}
