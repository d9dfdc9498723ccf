import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

// The protocol folders (src/ews, src/graph; src/sandbox, which plays Exchange) are the only ones that
// know how Exchange words a failure. A Graph source beside EWS must not have to touch the core:
// everything else decides on ExchangeError.category (src/shared/errors.ts).
const PROTOCOL_FOLDERS = ['ews', 'graph', 'sandbox'];

describe('the Exchange side\'s boundary', () => {
  it('no code outside the protocol folders reads an EWS response code or the EWS error class', () => {
    const offenders: string[] = [];
    for (const file of sources(src)) {
      const rel = relative(src, file);
      if (PROTOCOL_FOLDERS.includes(rel.split('/')[0]!)) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/\bresponseCode\b|\bEwsError\b|categoryOfError|ews\/ews-error|ews-response-codes|['"`]Error[A-Z][A-Za-z]+['"`]/.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
  });

  it('the handlers, the pipeline to the log and verify reach mailboxes only through the neutral port (src/exchange), never src/ews', () => {
    const offenders: string[] = [];
    for (const file of sources(src)) {
      const rel = relative(src, file);
      if (!/^(handlers|streams)\//.test(rel) && !/^ops\/verify/.test(rel)) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/from '(\.\.\/)+ews\//.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});
