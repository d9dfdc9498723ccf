import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeConfig, loadConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { repoRoot } from '../../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ecs-config-'));
let n = 0;
function file(xml: string): string {
  const path = join(dir, `c${++n}.config.xml`);
  writeFileSync(path, xml);
  return path;
}
const wrap = (inner: string): string => `<?xml version="1.0" encoding="utf-8"?>\n<configuration><calendar_sync>${inner}</calendar_sync></configuration>\n`;

function problemsOf(path: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(path, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('loadConfig', () => {
  it('impersonation="false" with more <account> elements: each with its user and the password from its own variable', () => {
    const { config } = loadConfig(file(wrap(`<exchange><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc1@contoso.test" impersonation="false" maxSubscriptionsPerAccount="5000">
      <account user="svc2@contoso.test" passwordEnv="PW2"/><account user="CONTOSO\\svc3" passwordEnv="PW3"/></ews></exchange>`)), { ECS_EWS_PASSWORD: 'p1', PW2: 'p2', PW3: 'p3' });
    assert.deepEqual(config.exchange.ews.accounts, [{ user: 'svc2@contoso.test', passwordEnv: 'PW2', password: 'p2' }, { user: 'CONTOSO\\svc3', passwordEnv: 'PW3', password: 'p3' }]);
    assert.equal(config.exchange.ews.maxSubscriptionsPerAccount, 5000);
    assert.match(problemsOf(file(wrap('<exchange><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc1" impersonation="false"><account user="svc2"/></ews></exchange>'))).join('\n'), /exchange\/ews\/account: needs user and passwordEnv; passwordEnv is missing/);
    assert.match(problemsOf(file(wrap('<exchange><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc1"><account user="svc2" passwordEnv="PW2"/></ews></exchange>'))).join('\n'), /more accounts are for impersonation="false"/);
  });
  it('<sync><field name direction>: one per field, the issue\'s example shape; validate-config says which way each goes; bad names and directions say what is allowed', () => {
    const { config } = loadConfig(file(wrap(`<sync items="appointments,tasks" direction="two-way" private="busy"><categories include="" exclude="Personal,Private"/>
      <field name="body" direction="to-crm"/><field name="time" direction="none"/><field name="subject" direction="two-way"/></sync>`)));
    assert.deepEqual(config.sync.fields, { body: 'to-crm', time: 'none' });
    assert.match(describeConfig(config).join('\n'), /fields: body from Outlook to the CRM only, time not synced/);
    const problems = problemsOf(file(wrap('<sync><field name="colour" direction="nowhere"/><field name="body" direction="to-crm"/><field name="body" direction="none"/><field name="location"/></sync>'))).join('\n');
    assert.match(problems, /sync\/field@name: "colour" is not one of subject, body, location, time, attendees, categories, private, reminder, status/);
    assert.match(problems, /sync\/field@direction: "nowhere" is not one of two-way, to-crm, to-exchange, none/);
    assert.match(problems, /sync\/field: needs name and direction; direction is missing/);
  });

  it('<sync><category outlook crm>: pairs in the file\'s order; validate-config prints them; a category twice or a pair without its CRM type is refused', () => {
    const { config } = loadConfig(file(wrap('<sync><category outlook="Customer visit" crm="Meeting"/><category outlook="Phone" crm="Phone call"/></sync>')));
    assert.deepEqual(config.sync.categoryTypes, [{ outlook: 'Customer visit', crm: 'Meeting' }, { outlook: 'Phone', crm: 'Phone call' }]);
    assert.match(describeConfig(config).join('\n'), /CRM types from categories: "Customer visit" = Meeting, "Phone" = Phone call \(others: the CRM's default\)/);
    const problems = problemsOf(file(wrap('<sync><category outlook="Phone" crm="Call"/><category outlook="phone" crm="Meeting"/><category outlook="Visit"/></sync>'))).join('\n');
    assert.match(problems, /sync\/category@outlook: "phone" appears more than once/);
    assert.match(problems, /sync\/category: needs outlook and crm; crm is missing/);
  });

  it('<crm directionField>: SuperOffice\'s person field naming each user\'s direction; validate-config says who wins; a column that is no person field, or the reference CRM, is refused', () => {
    const { config } = loadConfig(file(wrap('<exchange><mailboxes source="crm"/></exchange><crm type="superoffice" directionField="personUdef/SuperOffice:7"/>')));
    assert.equal(config.crm.superoffice?.directionField, 'personUdef/SuperOffice:7');
    assert.match(describeConfig(config).join('\n'), /policy: every mailbox two-way unless the user's personUdef\/SuperOffice:7 in SuperOffice says otherwise for one/);
    assert.equal(loadConfig(file(wrap('<crm type="superoffice" directionField="personExtra/x_calendar_sync"/>'))).config.crm.superoffice?.directionField, 'personExtra/x_calendar_sync');
    assert.match(problemsOf(file(wrap('<crm type="superoffice" directionField="associate.sync_direction"/>'))).join('\n'), /crm@directionField: "associate\.sync_direction" is not a Person archive column of a user-defined field \(personUdef\/SuperOffice:7/);
    assert.match(problemsOf(file(wrap('<crm type="embedded" directionField="personUdef/SuperOffice:7"/>'))).join('\n'), /crm@directionField: is for <crm type="superoffice">; the reference CRM's users carry their direction in associate\.sync_direction/);
  });

  it('a hybrid organisation asks Autodiscover beside EWS unless told otherwise; validate-config says where mailboxes are placed', () => {
    const hybrid = (ews: string): string => wrap(`<exchange><events><advise Object="EwsStream" online="GraphNotify"/></events>${ews}<graph tenant="t" clientId="c"/></exchange>`);
    const byDefault = loadConfig(file(hybrid('<ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc"/>')), { ECS_EWS_PASSWORD: 'p', ECS_GRAPH_CLIENT_SECRET: 's' }).config;
    assert.deepEqual(byDefault.exchange.ews.autodiscover, { enabled: true, url: '' });
    assert.match(describeConfig(byDefault).join('\n'), /mailboxes placed by the mailbox file, else Autodiscover beside EWS/);
    const named = loadConfig(file(hybrid('<ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc" autodiscoverUrl="https://autodiscover.contoso.test/autodiscover/autodiscover.svc"/>')), { ECS_EWS_PASSWORD: 'p', ECS_GRAPH_CLIENT_SECRET: 's' }).config;
    assert.match(describeConfig(named).join('\n'), /else Autodiscover https:\/\/autodiscover\.contoso\.test\/autodiscover\/autodiscover\.svc/);
    const off = loadConfig(file(hybrid('<ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc" autodiscover="false"/>')), { ECS_EWS_PASSWORD: 'p', ECS_GRAPH_CLIENT_SECRET: 's' }).config;
    assert.match(describeConfig(off).join('\n'), /mailboxes placed by the mailbox file and the state/);
    assert.match(problemsOf(file(hybrid('<ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc" autodiscoverUrl="ftp://x"/>'))).join('\n'), /exchange\/ews@autodiscoverUrl/);
  });
  it('auth="oauth": the authority with its tenant, the client secret from the variable named, no user or password needed', () => {
    const { config, warnings } = loadConfig(file(wrap('<exchange><ews url="https://outlook.office365.com/EWS/Exchange.asmx" auth="oauth" tenant="contoso.onmicrosoft.com" clientId="1b2c" clientSecretEnv="APP_SECRET"/></exchange>')), { APP_SECRET: 's3cret' });
    assert.deepEqual(config.exchange.ews.oauth, {
      authority: 'https://login.microsoftonline.com/contoso.onmicrosoft.com', clientId: '1b2c', clientSecret: 's3cret', certificateFile: '', scope: 'https://outlook.office365.com/.default',
    });
    assert.deepEqual(warnings, []);
    const missing = loadConfig(file(wrap('<exchange><ews url="https://outlook.office365.com/EWS/Exchange.asmx" auth="oauth" tenant="t" clientId="c"/></exchange>')), {});
    assert.match(missing.warnings.join('\n'), /ews@clientSecretEnv: environment variable ECS_EWS_CLIENT_SECRET is not set \(it must hold the secret\)/);
  });

  it("accepts the source document's file byte for byte, everything else defaulted", () => {
    const fixture = join(repoRoot, 'test/fixtures/config/source-document.config.xml');
    // The fixture is the code block of section 7 of the (German) source document, unchanged.
    const seed = join(repoRoot, '../shared/seeds/004_f9b769d7e23106cb.txt');
    if (existsSync(seed)) {
      const text = readFileSync(seed, 'utf8');
      const start = text.indexOf('<?xml version="1.0" encoding="utf-8"?>');
      const end = text.indexOf('</configuration>', start) + '</configuration>'.length;
      assert.equal(readFileSync(fixture, 'utf8'), `${text.slice(start, end)}\n`);
    }
    const { config } = loadConfig(fixture, {});
    assert.equal(config.exchange.mode, 'EwsStream');
    assert.equal(config.exchange.ews.url, null, 'no <ews>: the built-in sandbox');
    assert.equal(config.transport.type, 'embedded');
    assert.equal(config.crm.type, 'embedded');
    assert.deepEqual(config.sync.items, ['appointments', 'tasks']);
    assert.equal(config.exchange.stream.maxSubscriptionsPerConnection, 200);
    assert.equal(config.exchange.stream.connectionLifetimeMs, 29 * 60_000);
    assert.equal(config.exchange.pull.intervalMs, 10_000);
    assert.deepEqual(config.ops.listen, { host: '127.0.0.1', port: 9464 });
  });

  it('the shipped config/CalendarSyncExchange.config.xml is the source document', () => {
    assert.equal(
      readFileSync(join(repoRoot, 'config/CalendarSyncExchange.config.xml'), 'utf8'),
      readFileSync(join(repoRoot, 'test/fixtures/config/source-document.config.xml'), 'utf8'),
    );
  });

  it('reads every element and attribute of the full example', () => {
    const { config } = loadConfig(join(repoRoot, 'config/CalendarSyncExchange.production.example.xml'), {
      ECS_EWS_PASSWORD: 'pw-from-env',
      ECS_CRM_PASSWORD: 'db-pw',
    });
    assert.equal(config.exchange.ews.url, 'https://mail.example.com/EWS/Exchange.asmx');
    assert.equal(config.exchange.ews.password, 'pw-from-env');
    assert.equal(config.exchange.ews.impersonation, true);
    assert.equal(config.transport.type, 'kafka');
    assert.deepEqual(config.transport.brokers, ['kafka-1.example.com:9092', 'kafka-2.example.com:9092']);
    assert.equal(config.transport.replicationFactor, 3);
    assert.equal(config.crm.type, 'postgres');
    assert.match(config.crm.url ?? '', /:db-pw@/);
    assert.equal(config.exchange.pull.subscriptionTimeoutMinutes, 30);
    assert.deepEqual(config.ops.listen, { host: '0.0.0.0', port: 9464 });
  });

  for (const [spelling, mode] of [
    ['EwsStream', 'EwsStream'], ['ewsstream', 'EwsStream'], ['EWStream', 'EwsStream'],
    ['EwsPull', 'EwsPull'], ['EWSPull', 'EwsPull'], ['ewspull', 'EwsPull'],
  ] as const) {
    it(`advise Object="${spelling}" means ${mode}`, () => {
      const { config } = loadConfig(file(wrap(`<exchange><events><advise Object="${spelling}"/></events></exchange>`)), {});
      assert.equal(config.exchange.mode, mode);
    });
  }

  it('environment variables override the file', () => {
    const path = file(wrap('<transport type="kafka" brokers="a:1"/><exchange><events><advise Object="EwsStream"/></events></exchange>'));
    const { config } = loadConfig(path, { ECS_KAFKA_BROKERS: '127.0.0.1:9092,127.0.0.1:9094', ECS_ADVISE: 'ewspull', ECS_PULL_INTERVAL: '2s' });
    assert.deepEqual(config.transport.brokers, ['127.0.0.1:9092', '127.0.0.1:9094']);
    assert.equal(config.exchange.mode, 'EwsPull');
    assert.equal(config.exchange.pull.intervalMs, 2_000);
  });

  it('a bad environment override names the variable and the element it overrides', () => {
    const problems = problemsOf(file(wrap('')), { ECS_KAFKA_PARTITIONS: 'many' });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /environment variable ECS_KAFKA_PARTITIONS \(overrides calendar_sync\/transport@partitions\): "many" is not a whole number/);
  });

  it('returns a deeply frozen object', () => {
    const { config } = loadConfig(file(wrap('')), {});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.exchange.stream));
    assert.ok(Object.isFrozen(config.sync.items));
  });

  const rejections: Array<[string, string, RegExp, Record<string, string>?]> = [
    ['an unknown advise value', '<exchange><events><advise Object="EwsPoll"/></events></exchange>',
      /: calendar_sync\/exchange\/events\/advise@Object: "EwsPoll" is not one of EwsStream, EwsPull, GraphDelta, GraphNotify$/],
    ['kafka without brokers', '<transport type="kafka"/>', /calendar_sync\/transport@brokers: missing/],
    ['an unknown attribute', '<transport type="kafka" brokers="h:1" colour="red"/>', /calendar_sync\/transport@colour: unknown attribute; allowed: type, brokers/],
    ['an unknown element', '<exchange><evnts/></exchange>', /calendar_sync\/exchange\/evnts: unknown element; allowed here: events, ews, graph, mailboxes/],
    ['connectionLifetime 45m', '<exchange><events><stream connectionLifetime="45m"/></events></exchange>',
      /calendar_sync\/exchange\/events\/stream@connectionLifetime: 45m is out of range: allowed 1m to 30m/],
    ['connectionLifetime not a duration', '<exchange><events><stream connectionLifetime="soon"/></events></exchange>',
      /stream@connectionLifetime: "soon" is not a duration/],
    ['maxSubscriptionsPerConnection 500', '<exchange><events><stream maxSubscriptionsPerConnection="500"/></events></exchange>',
      /stream@maxSubscriptionsPerConnection: 500 is out of range: allowed 1 to 200/],
    ['a pull timeout over 1440 minutes', '<exchange><events><pull timeout="25h"/></events></exchange>', /pull@timeout: 25h is out of range: allowed 1m to 1d/],
    ['an attribute in the wrong case', '<exchange><events><advise object="EwsPull"/></events></exchange>', /advise@object: unknown attribute \(did you mean Object\?\)/],
    ['an element twice', '<ops/><ops/>', /calendar_sync\/ops: appears more than once/],
    ['text where attributes belong', '<ops>127.0.0.1:1</ops>', /calendar_sync\/ops: has text "127.0.0.1:1"/],
    ['postgres without url', '<crm type="postgres"/>', /calendar_sync\/crm@url: missing/],
    ['auth="oauth" without tenant and clientId', '<exchange><ews url="https://outlook.office365.com/EWS/Exchange.asmx" auth="oauth"/></exchange>',
      /exchange\/ews@tenant: missing; auth="oauth" needs the Entra ID tenant/],
    ['auth="oauth" with a certificate file that is not there', '<exchange><ews url="https://outlook.office365.com/EWS/Exchange.asmx" auth="oauth" tenant="contoso.onmicrosoft.com" clientId="c1" certificateFile="nowhere.pem"/></exchange>',
      /exchange\/ews@certificateFile: .*nowhere\.pem does not exist/],
    ['auth="kerberos"', '<exchange><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc" auth="kerberos"/></exchange>', /ews@auth: "kerberos" is not one of basic, ntlm, oauth/],
    ['a bad mailbox address', '<exchange><mailboxes><mailbox>not-an-address</mailbox></mailboxes></exchange>', /mailboxes\/mailbox: "not-an-address" is not an e-mail address/],
    ['an unknown sync item', '<sync items="appointments,emails"/>', /sync@items: "emails" is not one of appointments, tasks, contacts/],
    ['an <ews> without url', '<exchange><ews user="svc@x"/></exchange>', /exchange\/ews@url: missing/],
    ['a bad listen address', '<ops listen="everywhere"/>', /ops@listen: "everywhere" is not host:port/],
    ['a Graph advise with <ews> and no <graph>', '<exchange><events><advise Object="GraphNotify"/></events><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc"/></exchange>',
      /exchange\/graph: missing; advise GraphNotify reaches the mailboxes through Microsoft Graph/],
    ['<graph> without tenant', '<exchange><events><advise Object="GraphDelta"/></events><graph clientId="c1"/></exchange>', /exchange\/graph@tenant: missing/],
    ['a GraphNotify webhook beyond loopback without its public URL', '<exchange><events><advise Object="GraphNotify"/></events><graph tenant="t" clientId="c" listen="0.0.0.0:8443"/></exchange>',
      /exchange\/graph@notificationUrl: missing; Microsoft Graph must reach the webhook listening on 0\.0\.0\.0:8443/],
    ['notify="eventhub" without the Key Vault secret Graph sends with', '<exchange><events><advise Object="GraphNotify"/></events><graph tenant="t" clientId="c" notify="eventhub"/></exchange>',
      /exchange\/graph@eventHubUrl: missing; notify="eventhub" needs the Key Vault secret/],
    ['an eventHubUrl that is not a Key Vault secret', '<exchange><events><advise Object="GraphNotify"/></events><graph tenant="t" clientId="c" notify="eventhub" eventHubUrl="https://hub.example/x"/></exchange>',
      /graph@eventHubUrl: "https:\/\/hub\.example\/x" is not EventHub:https:\/\/<key vault>/],
    ['notify="eventhub" on the built-in sandbox', '<exchange><events><advise Object="GraphNotify"/></events></exchange>',
      /graph@notify: eventhub needs <graph>/, { ECS_GRAPH_NOTIFY: 'eventhub' }],
    ['a hybrid organisation without <graph>', '<exchange><events><advise Object="EwsStream" online="GraphNotify"/></events><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="svc"/></exchange>',
      /exchange\/graph: missing; advise online="GraphNotify" syncs a hybrid organisation and needs both <ews url="…"> \(on premises\) and <graph/],
    ['online beside a Graph advise', '<exchange><events><advise Object="GraphDelta" online="GraphNotify"/></events><graph tenant="t" clientId="c"/></exchange>',
      /advise@online: a hybrid organisation needs advise EwsStream or EwsPull for its mailboxes on premises/],
    ['an online mode that is not Graph\'s', '<exchange><events><advise Object="EwsStream" online="EwsPull"/></events></exchange>', /advise@online: "EwsPull" is not one of none, GraphNotify, GraphDelta/],
    ['a subscription lifetime over Outlook\'s 7 days', '<exchange><graph tenant="t" clientId="c" subscriptionLifetime="8d"/></exchange>', /graph@subscriptionLifetime: 8d is out of range/],
  ];
  for (const [what, inner, expected, env] of rejections) {
    it(`rejects ${what}`, () => {
      const path = file(wrap(inner));
      const problems = problemsOf(path, { ECS_EWS_PASSWORD: 'x', ...env });
      assert.ok(problems.some((p) => expected.test(p)), `no problem matched ${expected}:\n${problems.join('\n')}`);
      assert.ok(problems.every((p) => p.startsWith(`${path}: `)), 'every line names the file');
    });
  }

  it('reports all problems, not only the first', () => {
    const problems = problemsOf(file(wrap(
      '<exchange><events><advise Object="x"/><stream maxSubscriptionsPerConnection="500" connectionLifetime="45m" color="red"/></events></exchange><transport type="kafka"/><bogus/>',
    )));
    assert.equal(problems.length, 6, problems.join('\n'));
  });

  it('rejects malformed XML with line and column', () => {
    const problems = problemsOf(file('<?xml version="1.0"?>\n<configuration>\n<calendar_sync>\n</configuration>\n'));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /malformed XML: line 4, column \d+: Unexpected close tag/);
  });

  it('refuses a DOCTYPE with an external entity (XXE)', () => {
    const problems = problemsOf(file(
      '<?xml version="1.0"?>\n<!DOCTYPE configuration [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<configuration><calendar_sync><ops listen="&xxe;"/></calendar_sync></configuration>',
    ));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /malformed XML: line 2, column \d+: a DOCTYPE is not allowed/);
  });

  it('refuses what is not well-formed XML though sax lets it through, each with line and column', () => {
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['a repeated attribute', wrap('<exchange><events><advise Object="EwsStream" Object="EwsPull"/></events></exchange>'), /line 2, column \d+: the attribute Object is given twice/],
      ['a repeated attribute (crm@type)', wrap('<crm type="embedded" type="postgres"/>'), /the attribute type is given twice/],
      ['two root elements', '<configuration><calendar_sync/></configuration>\n<configuration/>', /line 2, column \d+: a second root element <configuration>/],
      ['a DOCTYPE after the root', '<configuration><calendar_sync/></configuration>\n<!DOCTYPE x>', /line 2, column \d+: .*doctype/i],
      ['the XML declaration twice', '<?xml version="1.0"?>\n<?xml version="1.0"?>\n<configuration><calendar_sync/></configuration>', /line 2, column \d+: an XML declaration is allowed only once, at the very start/],
      ['20,000 nested elements', wrap(`${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}`), /line 2, column \d+: elements nested deeper than 32 levels/],
      ['a 1 MiB user name', wrap(`<exchange><ews url="https://mail.contoso.test/EWS/Exchange.asmx" user="${'a'.repeat(1 << 20)}" passwordEnv="P"/></exchange>`), /the value of user is 1048576 characters long; at most 4096 are allowed/],
      // "svc\xff\xfe@contoso.test": the bytes a decoder would turn into U+FFFD, the account then "svc��@…"
      ['invalid UTF-8', Buffer.concat([Buffer.from('<?xml version="1.0"?>\n<configuration><calendar_sync><exchange><ews user="svc'), Buffer.from([0xff, 0xfe]), Buffer.from('@contoso.test"/></exchange></calendar_sync></configuration>')]), /line 2, column 55: not UTF-8/],
    ];
    for (const [what, xml, expected] of cases) {
      const path = join(dir, `c${++n}.config.xml`);
      writeFileSync(path, xml);
      const problems = problemsOf(path, { P: 'x' });
      assert.equal(problems.length, 1, `${what}: ${problems.join('\n')}`);
      assert.match(problems[0]!, expected, what);
      assert.ok(problems[0]!.length < 400, `${what}: the message stays short`);
    }
  });

  it('refuses an undefined entity reference', () => {
    const problems = problemsOf(file(wrap('<ops listen="&xxe;"/>')));
    assert.match(problems[0], /malformed XML: .*entity/i);
  });

  it('a missing file is a clear error', () => {
    const problems = problemsOf(join(dir, 'nope.xml'));
    assert.match(problems[0], /nope\.xml: cannot be read \(no such file\)/);
  });

  it('a missing secret is required by start, a warning for validation', () => {
    const path = file(wrap('<exchange><ews url="https://mail.example.com/EWS/Exchange.asmx" user="svc@example.com" passwordEnv="MY_PW"/></exchange>'));
    const { warnings } = loadConfig(path, {}, { requireSecrets: false });
    assert.match(warnings.join('\n'), /ews@passwordEnv: environment variable MY_PW is not set/);
    assert.throws(() => loadConfig(path, {}, { requireSecrets: true }), /MY_PW is not set/);
    const { config } = loadConfig(path, { MY_PW: 's3cret-value' }, { requireSecrets: true });
    assert.equal(config.exchange.ews.password, 's3cret-value');
  });

  it('mailbox lists and files imply their source', () => {
    const list = loadConfig(file(wrap('<exchange><mailboxes><mailbox>A@x.test</mailbox><mailbox>b@x.test</mailbox></mailboxes></exchange>')), {}).config;
    assert.equal(list.exchange.mailboxes.source, 'list');
    assert.deepEqual(list.exchange.mailboxes.list, ['a@x.test', 'b@x.test']);
    const fromFile = loadConfig(file(wrap('<exchange><mailboxes file="boxes.csv"/></exchange>')), {}).config;
    assert.equal(fromFile.exchange.mailboxes.source, 'file');
    assert.equal(fromFile.exchange.mailboxes.file, join(dir, 'boxes.csv'));
  });
});
