import { readFile } from 'node:fs/promises';
import { defer, distinctUntilChanged, map, merge, Observable, timer, switchMap, from, catchError, EMPTY } from 'rxjs';
import type { CrmDirectory } from '../crm-adapter/crm-port.js';
import type { Logger } from '../shared/logger.js';
import { SYNC_DIRECTIONS, type SyncDirection } from './mailbox-direction.js';

/** Where a mailbox of a hybrid organisation lives, as the operator says. */
export type MailboxHome = 'on-premises' | 'online';

/** Where the list of mailboxes to sync comes from. */
export interface MailboxDirectory {
  readonly description: string;
  list(): Promise<string[]>;
  /** A hybrid organisation: where the operator says mailboxes live (those it names). */
  homes?(): Promise<Map<string, MailboxHome>>;
  /** Emits when the list should be read again now (not only at the refresh interval). */
  readonly changes?: Observable<unknown>;
}

const normalise = (addresses: Iterable<string>): string[] => [...new Set([...addresses].map((a) => a.trim().toLowerCase()).filter((a) => /^[^\s@]+@[^\s@]+$/.test(a)))].sort();

export class StaticDirectory implements MailboxDirectory {
  readonly description: string;
  constructor(private readonly addresses: readonly string[]) {
    this.description = `${addresses.length} configured mailboxes`;
  }
  async list(): Promise<string[]> {
    return normalise(this.addresses);
  }
}

const HOMES: Record<string, MailboxHome> = { 'on-premises': 'on-premises', onpremises: 'on-premises', ews: 'on-premises', online: 'online', 'exchange-online': 'online', graph: 'online' };

/**
 * One address per line, first column of a CSV; a header line (no @) is skipped. A hybrid
 * organisation's file may say where each mailbox lives: a column headed "home" (or the second
 * column) holding on-premises or online.
 */
export class CsvFileDirectory implements MailboxDirectory {
  readonly description: string;
  constructor(private readonly path: string) {
    this.description = `mailbox file ${path}`;
  }
  async list(): Promise<string[]> {
    return normalise((await this.rows()).map((cells) => cells[0] ?? ''));
  }
  /** The direction column (a column headed "direction"): per mailbox, two-way, to-crm, to-exchange or off. */
  directions(): Promise<Map<string, SyncDirection>> {
    return this.column('direction', -1, (v) => (SYNC_DIRECTIONS as readonly string[]).includes(v) ? v as SyncDirection : undefined);
  }
  async homes(): Promise<Map<string, MailboxHome>> {
    return this.column('home', 1, (v) => HOMES[v]);
  }
  /**
   * One column's values by address: the column headed `name` (a header is the first line, if it
   * holds no address), else `unheaded` (-1: none); values that `parse` refuses are left out.
   */
  private async column<T>(name: string, unheaded: number, parse: (value: string) => T | undefined): Promise<Map<string, T>> {
    const rows = await this.rows();
    const first = rows.find((cells) => cells.some(Boolean));
    const header = first && !first.some((c) => c.includes('@')) ? first : undefined;
    const column = header ? header.findIndex((c) => c.trim().toLowerCase() === name) : unheaded;
    const out = new Map<string, T>();
    if (column < 1) return out;
    for (const cells of rows) {
      const value = parse((cells[column] ?? '').trim().toLowerCase());
      const [address] = normalise([cells[0] ?? '']);
      if (value !== undefined && address) out.set(address, value);
    }
    return out;
  }
  private async rows(): Promise<string[][]> {
    const text = await readFile(this.path, 'utf8');
    return text.split(/\r?\n/).map((line) => line.split(/[,;\t]/).map((c) => c.trim().replace(/^"|"$/g, '')));
  }
}

/** The CRM's active associates' e-mail addresses, whichever CRM it is. */
export class CrmAssociateDirectory implements MailboxDirectory {
  readonly description: string;
  constructor(private readonly crm: CrmDirectory) {
    this.description = crm.description;
  }
  async list(): Promise<string[]> {
    return normalise(await this.crm.activeAssociateEmails());
  }
}

/**
 * The directory read now and every `refreshMs`; emits the list whenever it changed. A read
 * that fails is logged and the last list stays in force (never "no mailboxes").
 */
export function watchDirectory(directory: MailboxDirectory, refreshMs: number, logger: Logger): Observable<string[]> {
  return merge(timer(0, refreshMs), directory.changes ?? EMPTY).pipe(
    switchMap(() =>
      defer(() => from(directory.list())).pipe(
        catchError((err: unknown) => {
          logger.error({ err, event: 'mailboxes.read-failed', directory: directory.description }, 'reading the mailbox list failed; keeping the last one');
          return EMPTY;
        }),
      ),
    ),
    map((list) => list),
    distinctUntilChanged((a, b) => a.length === b.length && a.every((x, i) => x === b[i])),
  );
}
