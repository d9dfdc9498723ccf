// Which embedded folders a configuration locks: the built-in sandbox's only when it stands in
// for Exchange (two services in one working folder, both on a real Exchange, once collided on it).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.js';
import { embeddedFolders, usesBuiltInSandbox } from '../../../src/ops/data-folders.js';

function configOf(exchange: string): ReturnType<typeof loadConfig>['config'] {
  const dir = mkdtempSync(join(tmpdir(), 'ecs-folders-'));
  const file = join(dir, 'CalendarSyncExchange.config.xml');
  writeFileSync(file, `<configuration><calendar_sync><exchange>${exchange}</exchange><crm type="postgres" url="postgres://127.0.0.1/test"/><transport type="kafka" brokers="127.0.0.1:9092"/></calendar_sync></configuration>`);
  return loadConfig(file, { ECS_X: 'secret' }, { cwd: dir }).config;
}

describe('embedded data folders', () => {
  it('the built-in sandbox\'s folder only when the advised protocol has no address', () => {
    const cases: Array<[string, boolean]> = [
      ['<events><advise Object="EwsStream"/></events>', true],
      ['<events><advise Object="EwsStream"/></events><ews url="https://mail.contoso.com/EWS/Exchange.asmx" user="svc" passwordEnv="ECS_X"/>', false],
      ['<events><advise Object="GraphNotify"/></events>', true],
      ['<events><advise Object="GraphNotify"/></events><graph url="https://graph.microsoft.com/v1.0" tenant="contoso" clientId="app" clientSecretEnv="ECS_X"/>', false],
    ];
    for (const [exchange, builtIn] of cases) {
      const config = configOf(exchange);
      assert.equal(usesBuiltInSandbox(config), builtIn, exchange);
      assert.equal(embeddedFolders(config).some((f) => f.endsWith(join('data', 'sandbox'))), builtIn, exchange);
    }
  });
});
