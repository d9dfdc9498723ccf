// impersonation="false": delegate access. The service account holds FullAccess on the
// mailboxes and names the mailbox in each folder id; items are found by their ids. Exchange
// charges everything to the account's own budget, so one account carries at most
// EWSMaxSubscriptions mailboxes — the rest are named, never dropped silently.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EwsSettings } from '../../../src/config/index.js';
import { AccountPool, BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { CapacityLimitedDirectory, groupSizeOf, mailboxCapacity, partitionOfMailbox, StaticDirectory, type MailboxDirectory } from '../../../src/subscriptions/index.js';
import { createSource, MutableDirectory, unsurfaced, waitUntil } from '../../helpers/source-harness.js';

describe('delegate access (impersonation="false") against the sandbox', () => {
  let sandbox: Sandbox;
  const clients: EwsClient[] = [];
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 3, limits: { heartbeatMs: 300 }, delegates: ['svc-sync2', 'svc-sync3'] });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sandbox.close();
  });
  const client = (user = 'svc-sync@contoso.test'): EwsClient => {
    const settings: EwsSettings = { url: sandbox.url, user, passwordEnv: 'X', password: 'sandbox', impersonation: false, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 };
    const c = new EwsClient({ settings, gate: new BackoffGate(), maxSockets: 4 });
    clients.push(c);
    return c;
  };

  it('reads and writes the mailbox it names, not the service account\'s own', async () => {
    const c = client();
    const target = sandbox.store.byEmail('user0002@contoso.test')!;
    const page = await c.syncFolderItems(target.address, 'calendar', null, 100);
    const expected = sandbox.store.itemsIn(target, 'calendar').length;
    assert.ok(expected > 0);
    assert.equal(page.changes.length, expected, 'the items of user0002');
    const made = await c.createItem('user0003@contoso.test', 'calendar', { subject: 'Delegated write', start: '2026-12-20T09:00:00Z', end: '2026-12-20T10:00:00Z' }, 'appointment:9001');
    assert.ok(made.itemId);
    assert.ok(sandbox.store.itemsIn(sandbox.store.byEmail('user0003@contoso.test')!, 'calendar').some((i) => i.props.Subject === 'Delegated write'));
    assert.equal(sandbox.store.byEmail('svc-sync@contoso.test'), undefined, 'the service account has no mailbox of its own to write into');
  });

  it('a mailbox user without FullAccess on another mailbox is refused (ErrorAccessDenied)', async () => {
    const c = client('user0001@contoso.test');
    const err = (await c.syncFolderItems('user0002@contoso.test', 'calendar', null, 10).catch((e: unknown) => e)) as { responseCode?: string };
    assert.equal(err.responseCode, 'ErrorAccessDenied');
  });

  it('streaming without impersonation: changes surface, and every subscription is charged to the account', async () => {
    const directory = new MutableDirectory(sandbox.store.all().filter((m) => m.address.startsWith('user')).map((m) => m.address));
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), directory, {}, {}, { impersonation: false });
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 4 && sandbox.openConnections.size === 1, 15_000, '4 mailboxes on one connection');
      assert.equal(sandbox.subscriptions.forBudget('svc-sync@contoso.test'), 4, 'EWSMaxSubscriptions of the account');
      sandbox.activity.burst(12);
      const journal = sandbox.activity.journal.slice(-12);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 15_000, 'every change');
    } finally {
      await source.stop();
      await exchange.close();
    }
  });

  it('several accounts ("ranks"): 50 mailboxes over 3 accounts at Exchange Online\'s 20 subscriptions each, one streaming group per account, every change surfaces', async () => {
    for (let i = 5; i <= 50; i++) sandbox.store.addMailbox(`user${String(i).padStart(4, '0')}@contoso.test`);
    const users = sandbox.store.all().filter((m) => m.address.startsWith('user')).map((m) => m.address);
    assert.equal(users.length, 50);
    const budget = { accounts: ['svc-sync@contoso.test', 'svc-sync2@contoso.test', 'svc-sync3@contoso.test'], mode: 'EwsStream' as const, maxSubscriptions: 20, maxConnections: 10, mailboxesPerConnection: 200 };
    assert.equal(mailboxCapacity(budget), 60);
    assert.equal(groupSizeOf(budget), 20);
    const pool = new AccountPool(budget.accounts.map((user) => client(user)), { maxSubscriptions: 20, maxConnections: 10, groupSize: 20 });
    const { source, exchange, seen } = createSource('stream', sandbox, new MemoryPositionStore(), new MutableDirectory(users), { exchange: pool, maxSubscriptionsPerConnection: 20 }, {}, { impersonation: false });
    try {
      source.start();
      await waitUntil(() => source.mailboxes.countByState().active === 50 && sandbox.openConnections.size === 3, 20_000, '50 mailboxes on 3 connections');
      const charged = budget.accounts.map((a) => sandbox.subscriptions.forBudget(a));
      assert.deepEqual([...charged].sort((a, b) => a - b), [10, 20, 20], `subscriptions per account: ${charged.join(', ')}`);
      assert.deepEqual([...new Set([...sandbox.openConnections].map((c) => c.budget))].sort(), [...budget.accounts].sort(), 'one connection per account');
      assert.equal(sandbox.stats.errorsByCode.get('ErrorExceededSubscriptionCount') ?? 0, 0);
      sandbox.activity.burst(30);
      const journal = sandbox.activity.journal.slice(-30);
      await waitUntil(() => unsurfaced(journal, seen).length === 0, 15_000, 'every change');
    } finally {
      await source.stop();
      await exchange.close();
    }
  });

  it('scaled out: 3 instances, 2 accounts, 40 mailboxes (all they carry) — the instances together stay within each account\'s 20 subscriptions and 10 connections', async () => {
    // 40 mailboxes (the test above made 50) fill 2 accounts of 20: their addresses alone would not split them evenly
    for (let i = 1; i <= 40; i++) if (!sandbox.store.byEmail(`user${String(i).padStart(4, '0')}@contoso.test`)) sandbox.store.addMailbox(`user${String(i).padStart(4, '0')}@contoso.test`);
    const all = sandbox.store.all().filter((m) => m.address.startsWith('user')).map((m) => m.address).sort().slice(0, 40);
    const accounts = ['svc-sync@contoso.test', 'svc-sync2@contoso.test'];
    const budget = { accounts, mode: 'EwsStream' as const, maxSubscriptions: 20, maxConnections: 10, mailboxesPerConnection: 200 };
    const refusedBefore = ['ErrorExceededSubscriptionCount', 'ErrorExceededConnectionCount'].map((code) => sandbox.stats.errorsByCode.get(code) ?? 0);
    // each instance as the service builds it: its own pool of the accounts, the whole list planned, its partitions' share synced
    const instances = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]].map((partitions) => {
      const pool = new AccountPool(accounts.map((user) => client(user)), { maxSubscriptions: 20, maxConnections: 10, groupSize: groupSizeOf(budget) }, accounts);
      const limited = new CapacityLimitedDirectory(new StaticDirectory(all), budget, undefined, (carried) => pool.plan(carried));
      const owned: MailboxDirectory = { description: 'owned', list: async () => (await limited.list()).filter((m) => partitions.includes(partitionOfMailbox(m, 12))) };
      const made = createSource('stream', sandbox, new MemoryPositionStore(), owned, { exchange: pool, maxSubscriptionsPerConnection: groupSizeOf(budget), groupKeyOf: (m: string) => String(pool.accountFor(m)) }, {}, { impersonation: false });
      return { pool, ...made };
    });
    try {
      for (const i of instances) i.source.start();
      const active = (): number => instances.reduce((n, i) => n + i.source.mailboxes.countByState().active, 0);
      const groups = (): number => instances.reduce((n, i) => n + i.pool.budget().reduce((k, b) => k + b.connections, 0), 0);
      await waitUntil(() => active() === 40 && sandbox.openConnections.size === groups(), 20_000, '40 mailboxes active across the 3 instances, every group\'s connection open');
      const held = instances.map((i) => i.source.mailboxes.all().length);
      assert.ok(held.every((n) => n > 0), `every instance has mailboxes: ${held.join(', ')}`);
      const charged = accounts.map((a) => sandbox.subscriptions.forBudget(a));
      assert.equal(charged[0] + charged[1], 40);
      assert.ok(charged.every((n) => n <= 20), `subscriptions per account: ${charged.join(', ')}`);
      const connections = accounts.map((a) => [...sandbox.openConnections].filter((c) => c.budget === a).length);
      assert.ok(connections.every((n) => n <= 10 && n > 0), `connections per account: ${connections.join(', ')}`);
      assert.deepEqual(['ErrorExceededSubscriptionCount', 'ErrorExceededConnectionCount'].map((code) => sandbox.stats.errorsByCode.get(code) ?? 0), refusedBefore, 'Exchange refused nothing');
      // every instance planned alike, and shows what it holds of each account
      const plans = instances.map((i) => i.pool.budget().map((b) => b.plannedMailboxes));
      assert.deepEqual(plans[1], plans[0]);
      assert.deepEqual(plans[2], plans[0]);
      assert.deepEqual(plans[0], charged);
      assert.deepEqual(accounts.map((_, k) => instances.reduce((n, i) => n + i.pool.budget()[k].subscriptions, 0)), charged);
      const before = sandbox.activity.journal.length;
      sandbox.activity.mailboxFilter = (m) => all.includes(m.address);
      sandbox.activity.burst(40);
      const journal = sandbox.activity.journal.slice(before);
      await waitUntil(() => unsurfaced(journal, new Map(instances.flatMap((i) => [...i.seen]))).length === 0, 15_000, 'every change');
    } finally {
      sandbox.activity.mailboxFilter = undefined;
      for (const i of instances) {
        await i.source.stop();
        await i.exchange.close();
      }
    }
  });

  it('more mailboxes than the account can carry: the first by address are synced, the rest named with the numbers', async () => {
    const all = Array.from({ length: 25 }, (_, i) => `user${String(i + 1).padStart(4, '0')}@contoso.test`);
    const limited = new CapacityLimitedDirectory(new StaticDirectory(all), { accounts: ['svc-sync@contoso.test'], mode: 'EwsStream', maxSubscriptions: 20, maxConnections: 10, mailboxesPerConnection: 200 });
    assert.deepEqual(await limited.list(), all.slice(0, 20));
    assert.deepEqual(limited.overflow?.mailboxes, all.slice(20));
    assert.match(limited.overflow?.reason ?? '', /25 mailboxes need 25 subscriptions .* enough for 20 — 5 mailboxes are not synced/);
  });
});
