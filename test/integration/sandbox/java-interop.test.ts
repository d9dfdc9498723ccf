import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { repoRoot } from '../../helpers/cli.js';

// A standard third-party EWS client in another language: Microsoft's EWS Java API 2.0 (from
// Maven Central), told the server version (Exchange2010_SP2), Basic auth and impersonation.
const javaDir = join(repoRoot, 'test/interop/java');
const cache = join(repoRoot, '.cache/ews-java');

function prepare(): void {
  if (!existsSync(join(cache, 'libs/.complete'))) {
    const fetch = spawnSync('mvn', ['-q', '-B', '-f', join(javaDir, 'pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${join(cache, 'libs')}`], { encoding: 'utf8' });
    assert.equal(fetch.status, 0, `mvn failed: ${fetch.stdout}${fetch.stderr}`);
    spawnSync('touch', [join(cache, 'libs/.complete')]);
  }
  mkdirSync(join(cache, 'classes'), { recursive: true });
  const compile = spawnSync('javac', ['-d', join(cache, 'classes'), '-cp', `${join(cache, 'libs')}/*`, join(javaDir, 'Interop.java')], { encoding: 'utf8' });
  assert.equal(compile.status, 0, `javac failed: ${compile.stderr}`);
}

describe('EWS sandbox with the EWS Java API', () => {
  it('GetFolder, CreateItem, GetItem, FindItem, SyncFolderItems, UpdateItem, pull and streaming notifications, DeleteItem', async () => {
    prepare();
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 2, limits: { heartbeatMs: 1_000 } });
    try {
      const output = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn('java', ['-cp', `${join(cache, 'classes')}:${join(cache, 'libs')}/*`, 'Interop', sandbox.url, 'user0002@contoso.test', 'sandbox']);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
      assert.equal(output.code, 0, output.stderr);
      const lines = Object.fromEntries(output.stdout.trim().split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
      assert.equal(lines.folder, 'Calendar');
      assert.equal(lines.subject, 'From Java & friends');
      assert.equal(lines.calendarview, '1');
      // at sync time the calendar held its seeded items plus "From Java"; since then one was
      // created (streamed) and one deleted, so the count is the same now
      assert.equal(lines.sync, String(sandbox.store.itemsIn(sandbox.store.byIndex(2)!, 'calendar').length));
      assert.equal(lines.pull, '1 1', 'one Created and one Modified event');
      assert.equal(lines.streaming, 'true');
      assert.ok('done' in lines);
      assert.equal(sandbox.stats.errorsByCode.size, 0, JSON.stringify(Object.fromEntries(sandbox.stats.errorsByCode)));
    } finally {
      await sandbox.close();
    }
  });
});
