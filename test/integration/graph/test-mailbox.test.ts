// `exchange-crm-sync test-mailbox` over Microsoft Graph, against the sandbox's Graph endpoint:
// a token, the calendar, the delta and (GraphNotify) a subscription Graph validates through the
// webhook — and what an operator is told when the app may not use a mailbox.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startSandbox } from '../../../src/sandbox/index.js';
import { runCli } from '../../helpers/cli.js';
import { writeConfig } from '../../helpers/service-process.js';

describe('test-mailbox over Microsoft Graph', () => {
  it('GraphNotify: ready for a mailbox the app may use (Graph validated the webhook); exit 3 with the fix named for one it may not', { timeout: 60_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 2, seed: 9, oauth: { apps: [{ tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: 'graph-secret' }] }, graph: true });
    try {
      const { file, dir } = writeConfig(`
        <exchange><events><advise Object="GraphNotify"/></events>
          <graph url="${sandbox.graph!.url}" authority="${sandbox.tokens!.url}" tenant="contoso" clientId="exchange-crm-sync" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="ca.pem"/>
          <mailboxes><mailbox>user0001@contoso.test</mailbox></mailboxes></exchange>`);
      writeFileSync(join(dir, 'ca.pem'), sandbox.tokens!.ca);
      const env = { ECS_TEST_GRAPH_SECRET: 'graph-secret' };
      const ok = await runCli(['test-mailbox', 'user0001@contoso.test', '--config', file], env);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /✓ the calendar: read the calendar of user0001@contoso\.test/);
      assert.match(ok.stdout, /✓ reading changes \(delta\): the calendar view's delta answered: 2 event\(s\)/);
      assert.match(ok.stdout, /✓ a change-notification subscription \(webhook\): Graph validated http:\/\/127\.0\.0\.1:\d+\/graph\/notifications/);
      assert.match(ok.stdout, /user0001@contoso\.test: ready to sync over Microsoft Graph \(GraphNotify\)/);
      assert.equal(sandbox.graph!.subscriptions.size, 0, 'the check left no subscription behind');

      sandbox.store.byEmail('user0002@contoso.test')!.denied = true;
      const denied = await runCli(['test-mailbox', 'user0002@contoso.test', '--config', file], env);
      assert.equal(denied.code, 3, denied.stdout + denied.stderr);
      assert.match(denied.stdout, /✗ the calendar: the app exchange-crm-sync .* may not use user0002@contoso\.test \(ErrorAccessDenied\): grant it the Microsoft Graph application permission Calendars\.ReadWrite/);

      const wrongSecret = await runCli(['test-mailbox', 'user0001@contoso.test', '--config', file], { ECS_TEST_GRAPH_SECRET: 'not-it' });
      assert.equal(wrongSecret.code, 3);
      assert.match(wrongSecret.stdout, /the token endpoint refused the app exchange-crm-sync/);
      assert.doesNotMatch(wrongSecret.stdout + wrongSecret.stderr, /not-it/, 'the secret is not printed');
    } finally {
      await sandbox.close();
    }
  });
});
