// The CRM port contract on SuperOffice's Web API (the simulator), every request and answer
// checked against SuperOffice's Swagger definitions.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { SuperOfficeCrm, SuperOfficeHttp, type CrmRef, type MappedRecords } from '../../../src/crm-adapter/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import type { SuperOfficeSandbox } from '../../../src/superoffice-sandbox/index.js';
import { describeCrmPortContract } from '../../helpers/crm-port-contract.js';
import { startCheckedSuperOffice, swaggerMissing } from '../../helpers/superoffice.js';
import { superOfficeCrmUser } from '../../helpers/superoffice-crm-user.js';

let so: SuperOfficeSandbox | undefined;

describeCrmPortContract('SuperOffice Web API (simulator)', async () => {
  so = await startCheckedSuperOffice({ associates: 3 });
  const http = new SuperOfficeHttp({ url: so.apiUrl, credentials: { kind: 'basic', user: 'ecs-sync', password: so.password }, tlsVerify: true, timeoutMs: 10_000, maxSockets: 8 });
  // SuperOffice's archive shows only what exists: deletes are told for the records the sync
  // has mapped, as the handlers would have mapped every record the feed reported
  const known = new Map<CrmRef, string>();
  const mapped: MappedRecords = {
    page: async (_entity, after, limit) => [...known].filter(([ref]) => after === undefined || ref.length > after.length || (ref.length === after.length && ref > after))
      .sort(([a], [b]) => a.length - b.length || a.localeCompare(b)).slice(0, limit).map(([ref, mailbox]) => ({ ref, mailbox })),
    mailboxOf: async (ref) => known.get(ref),
  };
  const port = await SuperOfficeCrm.open({
    http, tenant: so.apiUrl, application: 'ExchangeCrmSync', device: 'contract', webhook: { listen: { host: '127.0.0.1', port: 0 }, secret: 'contract-secret' },
    mapped, reconcileIntervalMs: 1_000, settleMs: 200, logger: silentLogger(),
  });
  const read = port.read.bind(port);
  port.read = async (after, limit) => {
    const batch = await read(after, limit);
    for (const c of batch.changes) if (c.op !== 'd' && c.ownerEmail) known.set(c.ref, c.ownerEmail);
    return batch;
  };
  const stop = await port.onChange(() => undefined);
  return {
    port, user: superOfficeCrmUser(so), associates: ['user0001@contoso.test', 'user0002@contoso.test'],
    close: async () => {
      await stop();
      port.close();
    },
  };
});

it('the SuperOffice contract run spoke the Web API as its Swagger definitions say', { skip: swaggerMissing }, () => {
  assert.deepEqual(so?.validator?.problems ?? ['no simulator'], []);
});

after(() => so?.close());
