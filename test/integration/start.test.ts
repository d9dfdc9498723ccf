import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnCli } from '../helpers/cli.js';

describe('exchange-crm-sync start', () => {
  it('starts, logs JSON with pino, serves /healthz, and stops cleanly on SIGINT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-start-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    writeFileSync(configFile, `<configuration><calendar_sync><exchange><events><advise Object="EwsStream"/></events></exchange>
      <ops listen="127.0.0.1:0"/><crm path="${dir}/crm"/><transport path="${dir}/log"/></calendar_sync></configuration>`);
    const child = spawnCli(['start', '--config', configFile], {}, dir);
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const opsUrl = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        buffered += d.toString();
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const parsed = JSON.parse(line) as Record<string, unknown>; // every line is JSON
          lines.push(parsed);
          if (parsed.event === 'ops.listening') resolve(String(parsed.url));
        }
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
    });
    // the built-in sandbox's mailboxes are synced through the embedded log: changes show up in the log
    const deadline = Date.now() + 30_000;
    while (!lines.some((l) => l.event === 'exchange.change') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(lines.some((l) => l.event === 'exchange.change' && typeof l.mailbox === 'string'), 'changes of the demo mailboxes are logged as they are published');
    const health = await fetch(`${opsUrl}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    assert.match(metrics, /process_resident_memory_bytes/);
    assert.match(metrics, /kafka_consumergroup_lag_sum\{consumergroup="ecs.to-crm",topic="ecs.exchange.changes"\} \d+/);
    assert.match(metrics, /ecs_mailboxes\{state="active"\} \d+/);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    const events = lines.map((l) => l.event);
    assert.ok(events.includes('config.loaded'));
    assert.ok(events.includes('service.started'));
    assert.ok(events.includes('shutdown.begin'));
    assert.ok(events.includes('shutdown.end'));
    assert.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'string'));
  });

  it('refuses to start with an invalid configuration: exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-start-'));
    const configFile = join(dir, 'bad.xml');
    writeFileSync(configFile, '<configuration><calendar_sync><exchange><ews url="https://x/EWS/Exchange.asmx" user="svc@x"/></exchange></calendar_sync></configuration>');
    const child = spawnCli(['start', '--config', configFile], {}, dir);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /ews@passwordEnv: environment variable ECS_EWS_PASSWORD is not set/);
  });
});
