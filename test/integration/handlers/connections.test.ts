// A handler waiting on Exchange or on the CRM holds no database connection of the sync's
// state: under ErrorServerBusy or a slow CRM, the other direction and the sources still get
// one. (Before, the to-exchange handler ran inside a transaction across CreateItem/UpdateItem.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates, type CrmPort } from '../../../src/crm-adapter/index.js';
import { BackoffGate } from '../../../src/shared/backoff-gate.js';
import { EwsClient } from '../../../src/ews/ews-client.js';
import type { ExchangePort } from '../../../src/ews/exchange-port.js';
import { ItemMappingStore, ToCrmHandler, ToExchangeHandler } from '../../../src/handlers/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase } from '../../../src/state/index.js';
import type { ChangeEnvelope } from '../../../src/streams/envelope.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

/** The same object, with every method first recording how many state connections are checked out. */
function watched<T extends object>(target: T, state: PgDatabase, seen: Array<[string, number]>): T {
  return new Proxy(target, {
    get(t, name, receiver) {
      const value = Reflect.get(t, name, receiver) as unknown;
      if (typeof value !== 'function' || typeof name !== 'string') return value;
      return (...args: unknown[]) => {
        const { total, idle } = state.poolStats();
        seen.push([name, total - idle]);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

describe('no connection held across a call to Exchange or the CRM', () => {
  it('both handlers: every EWS and CRM call is made with no state connection checked out', { timeout: 60_000 }, async () => {
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0, seed: 5 });
    const crmDb = new PgDatabase(postgresUrl());
    const state = new PgDatabase(postgresUrl(), { max: 2 });
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    const client = new EwsClient({ settings: { url: sandbox.url, user: sandbox.serviceAccount, passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 }, gate: new BackoffGate(), maxSockets: 4 });
    try {
      const mailbox = sandbox.store.byIndex(1)!.address;
      await initReferenceCrm(crmDb, crmSchema);
      await seedDemoAssociates(crmDb, crmSchema, [mailbox]);
      await ItemMappingStore.migrate(state, stateSchema);
      const seen: Array<[string, number]> = [];
      const exchange = watched<ExchangePort>(client, state, seen);
      const crm = watched<CrmPort>(new ReferenceCrm(crmDb, crmSchema), state, seen);
      const mappings = new ItemMappingStore(state, stateSchema);
      const toExchange = new ToExchangeHandler({ mappings, crm, exchange, logger: silentLogger(), privateItems: 'sync' });
      const toCrm = new ToCrmHandler({ crm, mappings, exchange, logger: silentLogger(), privateItems: 'sync' });
      const fromCrm = (version: string, op: 'c' | 'u' | 'd'): ChangeEnvelope => ({
        specversion: '1.0', v: 2, id: `crm-${version}-${op}`, source: `crm:${crmSchema}`, type: 'appointment', op, time: '2026-12-01T10:00:00Z',
        position: { kind: 'crm-change-log', value: version, scope: crmSchema }, subject: 'appointment:900', before: null, origin: 'crm', detectedAt: 0,
        after: op === 'd' ? null : { subject: `Version ${version}`, start: '2026-12-14T09:00:00Z', end: '2026-12-14T10:00:00Z', version, associateEmail: mailbox },
      });
      assert.equal(await toExchange.handle(fromCrm('1', 'c'), mailbox), 'applied');
      assert.equal(await toExchange.handle(fromCrm('2', 'u'), mailbox), 'applied');
      const [item] = sandbox.store.itemsIn(sandbox.store.byIndex(1)!, 'calendar');
      const fromExchange = (subject: string, op: 'c' | 'u' | 'd', offset: number): [ChangeEnvelope, { partition: number; offset: number }] => [{
        specversion: '1.0', v: 2, id: `ews-${offset}`, source: `exchange:${mailbox}`, type: 'appointment', op, time: '2026-12-01T10:00:00Z',
        position: { kind: 'ews-syncstate', value: 's', scope: mailbox }, subject: `new-item-${subject}`, before: null, origin: 'exchange', detectedAt: 0,
        after: op === 'd' ? null : { subject, start: '2026-12-15T09:00:00Z', end: '2026-12-15T10:00:00Z', version: `ck-${offset}` },
      }, { partition: 0, offset }];
      assert.equal(await toCrm.handle(...fromExchange('Made in Outlook', 'c', 1)), 'applied');
      assert.equal(await toCrm.handle(...fromExchange('Made in Outlook', 'd', 2)), 'applied');
      assert.equal(await toExchange.handle(fromCrm('3', 'd'), mailbox), 'applied');
      assert.ok(item, 'the CRM row reached the mailbox');
      const calls = new Set(seen.map(([name]) => name));
      for (const call of ['createItem', 'updateItem', 'deleteItem', 'associateByEmail', 'create', 'delete']) assert.ok(calls.has(call), `${call} was called`);
      assert.deepEqual(seen.filter(([, held]) => held > 0), [], 'no call made while a state connection was checked out');
    } finally {
      await client.close();
      await sandbox.close();
      await state.query(`drop schema if exists ${stateSchema} cascade`);
      await crmDb.query(`drop schema if exists ${crmSchema} cascade`);
      await state.close();
      await crmDb.close();
    }
  });
});
