import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.js';

/**
 * `npm test` is what CI runs, so the checks of `npm run lint` run here too: a type error or a
 * lint error anywhere (src, test, bench, scripts, chaos) turns CI red, not only a failing test.
 */
describe('the source checks', () => {
  for (const [name, bin, args] of [
    ['TypeScript (tsc --noEmit, strict, the whole tree)', 'node_modules/typescript/bin/tsc', ['--noEmit', '-p', 'tsconfig.json']],
    ['ESLint (eslint .)', 'node_modules/eslint/bin/eslint.js', ['.', '--quiet']],
  ] as const) {
    it(`${name} finds nothing`, { timeout: 180_000 }, () => {
      const r = spawnSync(process.execPath, [join(repoRoot, bin), ...args], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`.slice(0, 4_000));
    });
  }
});
