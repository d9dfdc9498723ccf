import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { SETTINGS } from '../../../src/config/index.js';
import { repoRoot } from '../../helpers/cli.js';

it('the README documents every setting and its environment variable', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  for (const s of SETTINGS) {
    assert.ok(readme.includes(`\`${s.element}${s.attribute ? `@${s.attribute}` : ' (text)'}\``), `README lacks ${s.element}@${s.attribute}`);
    assert.ok(readme.includes(`\`${s.env}\``), `README lacks ${s.env}`);
  }
});
