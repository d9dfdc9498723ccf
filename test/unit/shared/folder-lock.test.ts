import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FolderLocked, lockFolder } from '../../../src/shared/folder-lock.js';

const LOCK = '.exchange-crm-sync.lock';
/** A pid no process has: above the kernel's pid_max (at most 2^22). */
const GONE = 4_194_304 + 17;

describe('lockFolder', () => {
  it('holds the folder for this process and gives it back', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ecs-lockunit-')), 'data', 'crm');
    const held = lockFolder(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK), 'utf8')).pid, process.pid);
    assert.throws(() => lockFolder(dir), (e) => e instanceof FolderLocked && e.holder.pid === process.pid && e.code === 'FOLDER_LOCKED');
    held.release();
    assert.equal(existsSync(join(dir, LOCK)), false);
    lockFolder(dir).release();
  });

  it('a lock whose process is gone is taken over, and says whose it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-lockunit-'));
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid: GONE, host: hostname(), since: '2026-12-01T00:00:00Z' }));
    const held = lockFolder(dir);
    assert.equal(held.tookOverFrom, GONE);
    held.release();
  });

  it('another host\'s lock holds while it is touched, and is taken over a minute after its last touch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-lockunit-'));
    const file = join(dir, LOCK);
    writeFileSync(file, JSON.stringify({ pid: 1, host: 'other-host', since: '2026-12-01T00:00:00Z' }));
    assert.throws(() => lockFolder(dir), (e) => e instanceof FolderLocked && /in use by process 1 on other-host/.test(e.message));
    const old = new Date(Date.now() - 61_000);
    utimesSync(file, old, old);
    const held = lockFolder(dir);
    assert.equal(held.tookOverFrom, 1);
    held.release();
  });
});
