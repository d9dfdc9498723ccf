import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ecs-cli-'));
function file(name: string, xml: string): string {
  const path = join(dir, name);
  writeFileSync(path, xml);
  return path;
}

describe('exchange-crm-sync validate-config', () => {
  it('accepts the shipped default file: exit 0 and a summary', async () => {
    const r = await runCli(['validate-config']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config\/CalendarSyncExchange\.config\.xml: valid$/m);
    assert.match(r.stdout, /mode: EwsStream/);
    assert.match(r.stdout, /mailboxes: CRM associates/);
    assert.match(r.stdout, /transport: embedded/);
    assert.match(r.stdout, /crm: embedded/);
    assert.match(r.stdout, /items: appointments, tasks/);
  });

  it('prints the effective sync policy: the default direction, who may say otherwise, and what the mailbox file says', async () => {
    const csv = file('mailboxes.csv', 'email,direction\nann@example.com,to-crm\nbob@example.com,off\ncarl@example.com,\ndora@example.com,to-crm\n');
    const path = file('policy.config.xml', `<configuration><calendar_sync><exchange><mailboxes source="file" file="${csv}"/></exchange>
      <sync direction="to-exchange" private="skip"/></calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /policy: every mailbox to-exchange unless the mailbox file's direction column, else the CRM's associate\.sync_direction says otherwise for one .*; private items are not synced; .*; items outside -30\/\+365 days are left alone/);
    assert.match(r.stdout, /policy, the mailbox file: 2 to-crm, 1 off \(the other mailboxes to-exchange\)/);
  });

  it('private="busy" and <categories>: printed in the policy; an unknown private rule is refused naming the element', async () => {
    const path = file('items-policy.config.xml', `<configuration><calendar_sync><sync private="busy"><categories include="Customer visit" exclude="Personal, Private"/></sync></calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /private items reach the CRM as blockers \("Private", the time only\); only items in "Customer visit" reach the CRM, items in "Personal" or "Private" do not;/);
    const bad = file('items-policy-bad.config.xml', `<configuration><calendar_sync><sync private="hidden"/></calendar_sync></configuration>`);
    const refused = await runCli(['validate-config', bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /calendar_sync\/sync@private: .*"hidden".*sync, skip, busy/);
  });

  it('<mailbox direction>: one mailbox\'s direction in the list; a direction that is none is refused naming the element', async () => {
    const path = file('list-policy.config.xml', `<configuration><calendar_sync><exchange><mailboxes source="list">
      <mailbox direction="to-crm">Ann@example.com</mailbox><mailbox>bob@example.com</mailbox><mailbox direction="off">carl@example.com</mailbox>
      </mailboxes></exchange></calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /policy: every mailbox two-way unless <mailbox direction>, else the CRM's associate\.sync_direction says otherwise/);
    assert.match(r.stdout, /policy, <mailbox direction>: 1 to-crm, 1 off \(the other mailboxes two-way\)/);
    const bad = file('list-policy-bad.config.xml', `<configuration><calendar_sync><exchange><mailboxes source="list">
      <mailbox direction="sideways">ann@example.com</mailbox></mailboxes></exchange></calendar_sync></configuration>`);
    const refused = await runCli(['validate-config', bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /calendar_sync\/exchange\/mailboxes\/mailbox@direction: .*"sideways" \(for ann@example\.com\) is not one of two-way, to-crm, to-exchange, off/);
  });

  it('takes the file as --config too, as start does', async () => {
    const path = file('by-option.config.xml', '<configuration><calendar_sync><transport type="bogus"/></calendar_sync></configuration>');
    const r = await runCli(['validate-config', '--config', path]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /by-option\.config\.xml: calendar_sync\/transport@type/);
  });

  it('delegate access: mailboxes one account cannot carry are refused with the numbers (exit 2); a count that fits is valid', async () => {
    const mailboxes = (n: number): string => Array.from({ length: n }, (_, i) => `<mailbox>user${i + 1}@example.com</mailbox>`).join('');
    const over = file('delegation.config.xml', `<configuration><calendar_sync><exchange>
      <ews url="https://mail.example.com/EWS/Exchange.asmx" user="svc@example.com" impersonation="false"/>
      <mailboxes source="list">${mailboxes(25)}</mailboxes></exchange></calendar_sync></configuration>`);
    const r = await runCli(['validate-config', over]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ews@impersonation: delegate access charges everything to svc@example.com: 25 mailboxes need 25 subscriptions and 1 streaming connections; the account allows 20 subscriptions \(EWSMaxSubscriptions\) and 10 streaming connections \(HangingConnectionLimit\) of up to 200 mailboxes, enough for 20 — 5 mailboxes are not synced/);
    const raised = file('delegation-raised.config.xml', `<configuration><calendar_sync><exchange>
      <ews url="https://mail.example.com/EWS/Exchange.asmx" user="svc@example.com" impersonation="false" maxSubscriptionsPerAccount="5000"/>
      <mailboxes source="list">${mailboxes(25)}</mailboxes></exchange></calendar_sync></configuration>`);
    assert.equal((await runCli(['validate-config', raised])).code, 0);
  });

  it('masks secrets in the summary', async () => {
    const path = file('secret.config.xml', `<configuration><calendar_sync>
      <exchange><ews url="https://mail.example.com/EWS/Exchange.asmx" user="svc@example.com" passwordEnv="SVC_PW"/></exchange>
      <crm type="postgres" url="postgres://sync:inline-db-pw@db:5432/crm"/>
    </calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path], { SVC_PW: 'TopSecret-123' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('TopSecret-123'));
    assert.ok(!`${r.stdout}${r.stderr}`.includes('inline-db-pw'));
    assert.match(r.stdout, /password from \$SVC_PW: \*\*\*\*\*/);
  });

  it('credentials written into an HTTP(S) URL are refused naming the element, and never printed (exit 2)', async () => {
    const path = file('url-credentials.config.xml', `<configuration><calendar_sync>
      <exchange><ews url="https://svc%40example.com:Hunter2-Pw@mail.example.com/EWS/Exchange.asmx" user="svc@example.com"/></exchange>
      <crm type="superoffice" url="https://api:So-Pw-9@sod.superoffice.com/Cust1/api/v1" user="api"/>
    </calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path], { ECS_EWS_PASSWORD: 'x' });
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /exchange\/ews@url: "https:\/\/svc%40example\.com:\*\*\*\*\*@mail\.example\.com\/EWS\/Exchange\.asmx" has credentials in it, which are refused .*passwordEnv/);
    assert.match(r.stderr, /crm@url: "https:\/\/api:\*\*\*\*\*@sod\.superoffice\.com\/Cust1\/api\/v1" has credentials in it/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('Hunter2-Pw'), r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('So-Pw-9'), r.stderr);
  });

  it('an invalid file: exit 2 and one line per problem naming file and element', async () => {
    const path = file('CalendarSyncExchange.config.xml', `<?xml version="1.0" encoding="utf-8"?>
<configuration><calendar_sync><exchange><events>
  <advise Object="EwsPoll"/>
  <stream maxSubscriptionsPerConnection="500" connectionLifetime="45m"/>
</events></exchange><transport type="kafka" topicPrefix="x."/></calendar_sync></configuration>`);
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines, [
      `${path}: calendar_sync/exchange/events/advise@Object: "EwsPoll" is not one of EwsStream, EwsPull, GraphDelta, GraphNotify`,
      `${path}: calendar_sync/exchange/events/stream@maxSubscriptionsPerConnection: 500 is out of range: allowed 1 to 200 (EWS allows at most 200 subscriptions per streaming connection)`,
      `${path}: calendar_sync/exchange/events/stream@connectionLifetime: 45m is out of range: allowed 1m to 30m (EWS allows 1 to 30 minutes)`,
      `${path}: calendar_sync/transport@brokers: missing; <transport type="kafka"> needs brokers="host:port[,host:port…]" (or ECS_KAFKA_BROKERS)`,
    ]);
    assert.equal(r.stdout, '');
  });

  it('malformed XML: exit 2 with line and column', async () => {
    const path = file('broken.xml', '<configuration>\n  <calendar_sync>\n  </calendr_sync>\n</configuration>');
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /broken\.xml: malformed XML: line 3, column \d+: Unexpected close tag/);
  });

  it('a DOCTYPE / external entity: exit 2', async () => {
    const path = file('xxe.xml', '<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<configuration><calendar_sync/></configuration>');
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /xxe\.xml: malformed XML: line 2.*DOCTYPE is not allowed/);
  });

  it('an unknown attribute: exit 2', async () => {
    const path = file('attr.xml', '<configuration><calendar_sync><ops listen="127.0.0.1:1" colour="red"/></calendar_sync></configuration>');
    const r = await runCli(['validate-config', path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /attr\.xml: calendar_sync\/ops@colour: unknown attribute; allowed: listen, shutdownTimeout, logLevel/);
  });

  it('an environment override is validated too and named', async () => {
    const r = await runCli(['validate-config'], { ECS_ADVISE: 'EwsPush' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /environment variable ECS_ADVISE \(overrides calendar_sync\/exchange\/events\/advise@Object\): "EwsPush" is not one of EwsStream, EwsPull/);
  });

  it('unknown commands and --help', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /validate-config/);
    assert.match(help.stdout, /start/);
    const bad = await runCli(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
  });
});
