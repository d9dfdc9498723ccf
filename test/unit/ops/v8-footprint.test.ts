// Which way V8 trades memory for speed: small (WebAssembly on the baseline compiler,
// --optimize-for-size) wherever PGlite runs in the process, V8's defaults on servers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.js';
import { footprintOf } from '../../../src/ops/v8-footprint.js';

function configOf(parts: string, env: Record<string, string> = {}): ReturnType<typeof loadConfig>['config'] {
  const dir = mkdtempSync(join(tmpdir(), 'ecs-footprint-'));
  const file = join(dir, 'CalendarSyncExchange.config.xml');
  writeFileSync(file, `<configuration><calendar_sync><exchange><events><advise Object="EwsStream"/></events></exchange>${parts}</calendar_sync></configuration>`);
  return loadConfig(file, env, { cwd: dir }).config;
}

describe('V8 footprint', () => {
  const servers = '<crm type="postgres" url="postgres://127.0.0.1/test"/><transport type="kafka" brokers="127.0.0.1:9092"/>';
  it('auto: small when a database or the log is embedded, V8\'s defaults otherwise', () => {
    assert.equal(footprintOf(configOf('')), 'small', 'npm start: everything embedded');
    assert.equal(footprintOf(configOf('<crm type="postgres" url="postgres://127.0.0.1/test"/>')), 'small', 'the embedded log');
    assert.equal(footprintOf(configOf('<transport type="kafka" brokers="127.0.0.1:9092"/>')), 'small', 'the embedded CRM');
    assert.equal(footprintOf(configOf(servers)), 'fast', 'PostgreSQL and Kafka: no WebAssembly to save on');
  });
  it('the operator decides: ops@footprint or ECS_FOOTPRINT', () => {
    assert.equal(footprintOf(configOf('<ops footprint="fast"/>')), 'fast');
    assert.equal(footprintOf(configOf(`${servers}<ops footprint="small"/>`)), 'small');
    assert.equal(footprintOf(configOf('', { ECS_FOOTPRINT: 'fast' })), 'fast');
    assert.throws(() => configOf('<ops footprint="tiny"/>'), /ops.*footprint.*tiny|footprint.*auto, small, fast/s);
  });
});
