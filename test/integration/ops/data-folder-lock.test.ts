import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../helpers/cli.js';
import { startServiceProcess, type ServiceProcess } from '../../helpers/service-process.js';

/**
 * Two `npm start` in one folder (another ops port) once opened the same PGlite files: both
 * claimed every partition, both read the CRM change log, and the second's built-in sandbox made
 * the first's mappings look deleted. The embedded data folders now belong to one process.
 */
describe('two instances on one embedded data folder', () => {
  it('the second start exits 2 naming the folder and the pid holding it; crm init too; a lock left by a killed instance is taken over with a log line', { timeout: 150_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-lock-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    writeFileSync(configFile, `<configuration><calendar_sync><ops listen="127.0.0.1:0"/><sandbox mailboxes="2" activity="0"/></calendar_sync></configuration>`);
    const services: ServiceProcess[] = [];
    try {
      const first = await startServiceProcess(configFile, {}, dir);
      services.push(first);
      const firstPid = first.child.pid!;

      const second = await startServiceProcess(configFile, {}, dir).then((s) => {
        services.push(s);
        return undefined;
      }, (err: Error) => err.message);
      assert.ok(second !== undefined, 'a second instance started on the same data folder');
      assert.match(second, /exited early with 2/);
      assert.match(second, new RegExp(`the data folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/data/\\w+ is in use by process ${firstPid} `));
      assert.equal((await fetch(`${first.opsUrl}/healthz`)).status, 200, 'the first goes on');

      const init = await runCli(['crm', 'init', '--config', configFile], {}, dir);
      assert.equal(init.code, 2, init.stdout + init.stderr);
      assert.match(init.stderr, new RegExp(`is in use by process ${firstPid} `));

      assert.equal(await first.stop('SIGKILL'), null);
      const third = await startServiceProcess(configFile, {}, dir);
      services.push(third);
      const takenOver = third.lines.filter((l) => l.event === 'data-folder.taken-over');
      assert.ok(takenOver.length >= 1, 'the killed instance\'s locks are taken over');
      assert.ok(takenOver.every((l) => l.previousPid === firstPid && Number(l.level) === 40), JSON.stringify(takenOver));
      assert.equal(await third.stop('SIGINT'), 0, third.stderr());
      for (const folder of ['log', 'crm', 'state', 'sandbox']) {
        assert.equal(existsSync(join(dir, 'data', folder, '.exchange-crm-sync.lock')), false, `data/${folder} is given back at a clean stop`);
      }
    } finally {
      for (const s of services) await s.stop('SIGKILL');
    }
  });
});
