// The operator's commands where they fail before reaching anything: usage and configuration
// problems, and --help on every command. (Their success paths run against a live service in
// test/integration/ops/operating.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ecs-ops-cli-'));

describe('operator commands: usage and configuration failures', () => {
  it('every command answers --help', async () => {
    const commands = [['start'], ['validate-config'], ['crm', 'init'], ['status'], ['pause'], ['resume'], ['resync'], ['test-mailbox'], ['dlq', 'list'], ['dlq', 'replay'], ['sandbox'], ['superoffice-sandbox'], ['bench']];
    // a few at a time: each is a process of its own, mostly loading modules
    for (let i = 0; i < commands.length; i += 4) {
      await Promise.all(commands.slice(i, i + 4).map(async (command) => {
        const r = await runCli([...command, '--help']);
        assert.equal(r.code, 0, `${command.join(' ')} --help`);
        assert.match(r.stdout, /Usage: exchange-crm-sync/, command.join(' '));
      }));
    }
  });

  it('test-mailbox without an <ews> element: exit 2, says the sandbox has no mailbox to test', async () => {
    const file = join(dir, 'no-ews.xml');
    writeFileSync(file, '<configuration><calendar_sync/></configuration>');
    const r = await runCli(['test-mailbox', 'user0001@contoso.test', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no <ews url="…">: the built-in sandbox stands in for Exchange/);
  });

  it('status with an invalid configuration: exit 2 with the problem; pause without a mailbox: exit 2', async () => {
    const file = join(dir, 'bad.xml');
    writeFileSync(file, '<configuration><calendar_sync><ops listen="nowhere"/></calendar_sync></configuration>');
    const r = await runCli(['status', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /calendar_sync\/ops@listen: "nowhere" is not host:port/);
    const pause = await runCli(['pause']);
    assert.equal(pause.code, 2);
    assert.match(pause.stderr, /missing required argument 'mailbox'/);
  });

  it('bench with an unknown scenario: exit 2 naming the allowed ones', async () => {
    const r = await runCli(['bench', '--scenarios', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown scenario nope; allowed: transport, exchange-to-crm, graph, crm-to-exchange, scale/);
  });

  it('dlq with an unknown --topic: exit 2', async () => {
    const r = await runCli(['dlq', 'list', '--topic', 'everything']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Allowed choices are exchange, crm, both/);
  });
});
