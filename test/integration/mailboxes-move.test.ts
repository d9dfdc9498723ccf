import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.js';
import { kafkaBrokers, postgresUrl } from '../helpers/services.js';

interface ChaosOutcome {
  scenario: string;
  ok: boolean;
  exchangeChanges: number;
  crmChanges: number;
  verify: { missing: number; stale: number; ghost: number; unlinked: number; items: number; records: number };
  deadLetters: number;
  removedBySync: number;
  crmDeletes: number;
  detail: string;
}

/**
 * The move at the organisation's scale, on the real parts: `npm run chaos`'s mailboxes-move
 * scenario with 50 mailboxes on EwsStream (a hybrid deployment, GraphNotify online), users
 * changing both sides (10 and 5 changes/s); mid-burst Exchange moves 20 of them to Exchange
 * Online, the running sync follows them and is SIGKILLed while it does, and started again it
 * follows the rest. At the end verify --all agrees item by item, the CRM has one row per item,
 * nothing is in a dead-letter topic, and the sync removed no more mailbox items than the CRM
 * users deleted (a move that made the mailbox look new would remove or duplicate a calendar).
 */
describe('50 mailboxes, 20 moved to Exchange Online mid-burst, the sync SIGKILLed during the moves', () => {
  it('ends with both sides agreeing item by item, one CRM row per item, nothing removed because of the move', { timeout: 420_000 }, async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'ecs-chaos-move-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/index.ts', '--scenarios', 'mailboxes-move', '--mailboxes', '50', '--seconds', '20', '--out', out], {
        cwd: repoRoot, env: { ...process.env, ECS_BENCH_KAFKA_BROKERS: kafkaBrokers().join(','), ECS_BENCH_PG_URL: postgresUrl() }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-20_000)));
      child.stderr.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-20_000)));
      const code = await new Promise<number | null>((resolve) => {
        const deadline = setTimeout(() => {
          try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
        }, 400_000);
        child.once('exit', (c) => {
          clearTimeout(deadline);
          resolve(c);
        });
      });
      const lines = output.split('\n').filter((l) => l.startsWith('chaos:') || l.startsWith('|')).join('\n');
      assert.equal(code, 0, lines || output.slice(-4_000));
      const [file] = readdirSync(out).filter((f) => f.endsWith('.json'));
      const { outcomes } = JSON.parse(readFileSync(join(out, file), 'utf8')) as { outcomes: ChaosOutcome[] };
      const [o] = outcomes;
      assert.equal(o.scenario, 'mailboxes-move');
      t.diagnostic(`${o.exchangeChanges} mailbox and ${o.crmChanges} CRM changes; ${o.verify.items} items / ${o.verify.records} records; ${o.detail}`);
      assert.ok(o.ok, o.detail);
      assert.match(o.detail, /^20 mailboxes moved by Exchange mid-burst: [1-9]\d* followed to Graph when the sync was SIGKILLed, 20 after its restart/);
      assert.deepEqual([o.verify.missing, o.verify.stale, o.verify.ghost, o.verify.unlinked], [0, 0, 0, 0]);
      assert.equal(o.verify.records, o.verify.items, 'one CRM row per item');
      assert.equal(o.deadLetters, 0);
      assert.ok(o.exchangeChanges > 100 && o.crmChanges > 50, `users changed both sides during the moves (${o.exchangeChanges} mailbox, ${o.crmChanges} CRM changes)`);
      assert.ok(o.removedBySync <= o.crmDeletes, `the sync removed ${o.removedBySync} mailbox items, the CRM users deleted ${o.crmDeletes} rows`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
