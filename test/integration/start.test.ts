import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnCli } from '../helpers/cli.js';
import { startServiceProcess } from '../helpers/service-process.js';

/**
 * npm start's demo both ways, by hand as a demo user would (README: "Trying it"). The demo
 * sandbox's own activity is off here: it deletes random items, now and then the one made here.
 */
async function demoBothWays(opsUrl: string, options: { selectionFolder?: boolean } = {}): Promise<void> {
  const post = (path: string, body: unknown): Promise<Response> => fetch(`${opsUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const mailbox = 'user0002@contoso.test';
  const made = Date.now();
  assert.equal((await post('/demo/exchange-appointments', { mailbox, subject: 'Made in Outlook' })).status, 201);
  assert.equal((await post('/demo/crm-appointments', { mailbox, title: 'Made in the CRM' })).status, 201);
  const arrived = async (path: string, field: string, value: string): Promise<number> => {
    while (Date.now() - made < 30_000) {
      const list = (await (await fetch(`${opsUrl}${path}?mailbox=${mailbox}`)).json()) as Array<Record<string, unknown>>;
      if (list.some((x) => x[field] === value)) return Date.now() - made;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${value} did not arrive`);
  };
  const toCrm = await arrived('/demo/crm-appointments', 'title', 'Made in Outlook');
  const toExchange = await arrived('/demo/exchange-appointments', 'subject', 'Made in the CRM');
  console.log(`# npm start demo: a mailbox item in the CRM after ${toCrm} ms, a CRM appointment in the mailbox after ${toExchange} ms`);
  assert.equal((await post('/demo/crm-appointments', { mailbox: 'nobody@contoso.test' })).status, 404);
  const malformed = await fetch(`${opsUrl}/demo/exchange-appointments`, { method: 'POST', body: '{"mailbox": ' });
  assert.equal(malformed.status, 400);
  assert.match(((await malformed.json()) as { error: string }).error, /JSON object/);
  if (!options.selectionFolder) return;
  // the demo CRM's selection "Demo key accounts" is a contact folder in the first demo mailbox
  let folders: Array<{ folder: string; contacts: string[] }> = [];
  while (Date.now() - made < 60_000) {
    folders = (await (await fetch(`${opsUrl}/demo/exchange-contacts?mailbox=user0001@contoso.test`)).json()) as typeof folders;
    if (folders.find((f) => f.folder === 'Demo key accounts')?.contacts.length === 5) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(folders.find((f) => f.folder === 'Demo key accounts')?.contacts, ['Ada Lovelace', 'Alan Turing', 'Charles Babbage', 'Grace Hopper', 'Katherine Johnson'], JSON.stringify(folders));
}

describe('exchange-crm-sync start', () => {
  it('starts, logs JSON with pino, serves /healthz, and stops cleanly on SIGINT', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-start-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    writeFileSync(configFile, `<configuration><calendar_sync><exchange><events><advise Object="EwsStream"/></events></exchange>
      <ops listen="127.0.0.1:0"/><crm path="${dir}/crm"/><transport path="${dir}/log"/><sandbox activity="0"/></calendar_sync></configuration>`);
    const service = await startServiceProcess(configFile, {}, dir);
    t.after(() => service.stop('SIGKILL')); // a failed assertion must not leave the service running
    const { lines, opsUrl } = service;
    // the built-in sandbox's 20 mailboxes are read in full (about 120 items) through the embedded log
    const deadline = Date.now() + 60_000;
    while (!lines.some((l) => l.event === 'initial-sync.done') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(lines.some((l) => l.event === 'initial-sync.done'), 'the initial sync is logged when done');
    // info says what an operator acts on: no line per item (there were 7 per synced item)
    assert.deepEqual(lines.filter((l) => l.event === 'exchange.change'), [], 'per-item lines are at debug');
    const infoLines = lines.filter((l) => Number(l.level) >= 30).length;
    assert.ok(infoLines < 30, `${infoLines} info lines for starting 20 mailboxes`);
    assert.match(String(lines.find((l) => l.event === 'ops.listening')?.msg), /^status page http:\/\/127\.0\.0\.1:\d+\/ /, 'the log names the status page');
    const health = await fetch(`${opsUrl}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
    t.diagnostic(`npm start (embedded, 20 demo mailboxes): RSS ${Math.round(rss / 2 ** 20)} MiB after the initial sync, ${infoLines} info log lines`);
    // #25: npm start under 300 MB (it was 790 MB). Here it runs through tsx, which adds ~30 MiB:
    // measured at 50 s, 273 MiB with ops@footprint's "small" (npm start: 247–249), 405 with V8's defaults (342–374)
    assert.equal(lines.find((l) => l.event === 'v8.footprint')?.footprint, 'small', 'the embedded default trades speed for memory');
    assert.ok(rss > 0 && rss < 340 * 2 ** 20, `RSS after the initial sync: ${Math.round(rss / 2 ** 20)} MiB (at most 340 through tsx)`);
    assert.match(metrics, /kafka_consumergroup_lag_sum\{consumergroup="ecs.to-crm",topic="ecs.exchange.changes"\} \d+/);
    assert.match(metrics, /ecs_mailboxes\{state="active"\} \d+/);
    await demoBothWays(opsUrl, { selectionFolder: true });

    assert.equal(await service.stop('SIGINT'), 0, service.stderr());
    assert.deepEqual(lines.filter((l) => 'raw' in l), [], 'every line on stdout is JSON');
    const events = lines.map((l) => l.event);
    assert.ok(events.includes('config.loaded'));
    assert.ok(events.includes('service.started'));
    assert.ok(events.includes('shutdown.begin'));
    assert.ok(events.includes('shutdown.end'));
    assert.ok(lines.every((l) => typeof l.level === 'number' && typeof l.time === 'string'));
    assert.doesNotMatch(service.stderr(), /Warning/, 'a start prints no Node.js warnings (it printed MaxListenersExceededWarning)');
  });

  it('with <crm type="superoffice"/> (the built-in SuperOffice simulator) the demo syncs both ways too, webhooks signed and accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-start-'));
    const configFile = join(dir, 'CalendarSyncExchange.config.xml');
    writeFileSync(configFile, `<configuration><calendar_sync><exchange><events><advise Object="EwsStream"/></events></exchange>
      <ops listen="127.0.0.1:0"/><crm type="superoffice"/><state path="${dir}/state"/><transport path="${dir}/log"/><sandbox activity="0"/></calendar_sync></configuration>`);
    const service = await startServiceProcess(configFile, {}, dir);
    try {
      assert.ok(service.lines.some((l) => l.event === 'crm.open' && String(l.crm).startsWith('superoffice:')));
      await demoBothWays(service.opsUrl);
      const metrics = await (await fetch(`${service.opsUrl}/metrics`)).text();
      assert.match(metrics, /ecs_crm_webhooks_total\{outcome="accepted"\} [1-9]/, 'the appointment made in SuperOffice came with a signed webhook');
      assert.match(metrics, /ecs_crm_requests_total\{method="GET",status="200"\} [1-9]/);
    } finally {
      assert.equal(await service.stop('SIGINT'), 0, service.stderr());
    }
  });

  it('refuses a state that belongs to another CRM (exit 2, saying why), and starts with --rebaseline', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-start-'));
    // the state shares the CRM's database (its own schema, ecs): another CRM schema there keeps the state
    const config = (crm: string): string => {
      const file = join(dir, `${crm}.xml`);
      writeFileSync(file, `<configuration><calendar_sync><ops listen="127.0.0.1:0"/><crm path="${dir}/crm" schema="${crm}"/><transport path="${dir}/log"/><sandbox activity="0"/></calendar_sync></configuration>`);
      return file;
    };
    const first = await startServiceProcess(config('crm_a'), {}, dir);
    assert.equal(await first.stop('SIGINT'), 0, first.stderr());
    const child = spawnCli(['start', '--config', config('crm_b')], {}, dir);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /error: the sync state in schema "ecs_state" belongs to the CRM reference:.*, not reference:.*: its mappings would swallow this CRM's changes\. Start with --rebaseline/);
    const again = await startServiceProcess(config('crm_b'), {}, dir, ['--rebaseline']);
    try {
      const deadline = Date.now() + 20_000;
      while (!again.lines.some((l) => l.event === 'state.rebaselined') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(again.lines.some((l) => l.event === 'state.rebaselined'));
    } finally {
      assert.equal(await again.stop('SIGINT'), 0, again.stderr());
    }
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
