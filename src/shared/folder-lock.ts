import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { SyncError } from './errors.js';

const LOCK_FILE = '.exchange-crm-sync.lock';
/** The holder touches its lock this often; one from another host untouched for STALE_MS is a crashed holder's. */
const TOUCH_MS = 10_000;
const STALE_MS = 60_000;

interface LockRecord {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** Another running process holds the data folder: two writers would corrupt it, or worse, disagree in silence. */
export class FolderLocked extends SyncError {
  constructor(readonly folder: string, readonly holder: LockRecord) {
    super('FOLDER_LOCKED', `the data folder ${folder} is in use by process ${holder.pid} on ${holder.host} (since ${holder.since}): an embedded log, CRM, state or sandbox has one user at a time. Stop that instance, or give this one other folders (transport@path, crm@path, state@path, sandbox@path); if process ${holder.pid} is not exchange-crm-sync, remove ${join(folder, LOCK_FILE)}`, { retriable: false });
  }
}

export interface HeldFolder {
  readonly folder: string;
  /** The lock a process that is gone left behind, taken over: its pid. */
  readonly tookOverFrom?: number;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is someone else's
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readRecord(file: string): LockRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockRecord>;
    return typeof r.pid === 'number' ? { pid: r.pid, host: String(r.host ?? ''), since: String(r.since ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes a data folder for this process: a lock file made with O_EXCL (atomic on a local file
 * system), naming the pid and host. A lock whose process is gone (a crash, SIGKILL) is taken
 * over; one whose process runs on this host refuses. The holder touches its lock every 10 s:
 * a lock from another host (a shared volume, a container made anew) counts as held until it
 * has not been touched for a minute.
 */
export function lockFolder(folder: string): HeldFolder {
  const dir = resolve(folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  const me: LockRecord = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  let tookOverFrom: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
      const holder = readRecord(file);
      if (!holder && attempt === 0) {
        // a lock being written this instant reads empty: look again shortly
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        continue;
      }
      const held = holder && (holder.host === me.host ? alive(holder.pid) : Date.now() - mtimeOf(file) < STALE_MS);
      if (holder && held) throw new FolderLocked(dir, holder);
      tookOverFrom = holder?.pid;
      rmSync(file, { force: true });
    }
  }
  const touch = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // the folder went away under us: nothing to keep
    }
  }, TOUCH_MS);
  touch.unref();
  return {
    folder: dir,
    ...(tookOverFrom !== undefined ? { tookOverFrom } : {}),
    release: () => {
      clearInterval(touch);
      if (readRecord(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
