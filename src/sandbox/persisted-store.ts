import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MailboxStore, StoreData } from './mailbox-store.js';

/** Numbers handed out after the last save of a crashed sandbox stay unused: this many ahead. */
export const CRASH_SKIP = 1_000_000;

interface SavedSandbox {
  /** 2: item ids binary (as Exchange's); 1 had them as text, which a state made with it still names. */
  readonly format: 2;
  /** The organisation this sandbox is: the same across restarts, another for a fresh sandbox. */
  readonly organisation: string;
  /** SyncStates and watermarks name it: they stay valid across a clean restart. */
  readonly epoch: number;
  /** Saved at a clean stop; false while the sandbox runs (a crash leaves it false). */
  readonly clean: boolean;
  readonly savedAt: string;
  readonly store: StoreData;
}

export interface OpenedStore {
  readonly organisation: string;
  readonly epoch: number;
  /** 'fresh': no saved data; 'restored': after a clean stop; 'recovered': after a crash (changes since the last save are gone). */
  readonly outcome: 'fresh' | 'restored' | 'recovered';
}

/**
 * The built-in sandbox's mailboxes in a file, so a demo restarted on the same data folder
 * meets the same Exchange — the same items, ItemIds, SyncStates — as a real server's restart
 * would. Saved a few seconds after changes and at a clean stop. After a crash the last save
 * comes back (as a restore from backup would): SyncStates of the lost time are refused
 * (another epoch, so clients resynchronise) and item numbers continue far ahead, so no ItemId
 * a client saw is ever given to another item.
 */
export class PersistedStore {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private unlisten: (() => void) | undefined;

  private constructor(private readonly file: string, private readonly store: MailboxStore, readonly opened: OpenedStore) {}

  /** Loads `file` into `store` if it exists (a fresh store otherwise), and marks it in use. */
  static open(file: string, store: MailboxStore): PersistedStore {
    let saved: SavedSandbox | undefined;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as SavedSandbox;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the built-in sandbox's data in ${file} cannot be read (${(err as Error).message}): move it away to start with fresh demo mailboxes`);
    }
    let opened: OpenedStore;
    if (saved !== undefined && saved.format !== 2) {
      throw new Error(`the built-in sandbox's data in ${file} is of an older format (its items had other ids, which the sync's state names): move the data folder away to start with fresh demo mailboxes`);
    }
    if (saved?.format === 2) {
      store.restore(saved.store, saved.clean ? 0 : CRASH_SKIP);
      opened = { organisation: saved.organisation, epoch: saved.clean ? saved.epoch : newEpoch(saved.epoch), outcome: saved.clean ? 'restored' : 'recovered' };
    } else {
      opened = { organisation: randomUUID(), epoch: newEpoch(), outcome: 'fresh' };
    }
    const persisted = new PersistedStore(file, store, opened);
    persisted.save(false);
    return persisted;
  }

  /** Saves now (the mailboxes as made or restored), then within `everyMs` of a change, until `close`. */
  start(everyMs = 2_000): void {
    this.save(false);
    this.unlisten = this.store.onEvent(() => {
      this.dirty = true;
    });
    this.timer = setInterval(() => {
      if (this.dirty) this.save(false);
    }, everyMs);
    this.timer.unref();
  }

  /** Saves and marks the data clean: the next start continues exactly here. */
  close(): void {
    clearInterval(this.timer);
    this.unlisten?.();
    this.save(true);
  }

  private save(clean: boolean): void {
    this.dirty = false;
    const saved: SavedSandbox = { format: 2, organisation: this.opened.organisation, epoch: this.opened.epoch, clean, savedAt: new Date().toISOString(), store: this.store.data() };
    mkdirSync(dirname(this.file), { recursive: true });
    // written aside and renamed: a crash mid-write leaves the previous save whole
    const aside = `${this.file}.${process.pid}.tmp`;
    writeFileSync(aside, JSON.stringify(saved));
    renameSync(aside, this.file);
  }
}

function newEpoch(not?: number): number {
  for (;;) {
    const epoch = randomInt(1, 2 ** 31 - 1);
    if (epoch !== not) return epoch;
  }
}
