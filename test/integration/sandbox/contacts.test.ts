import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { SchemaValidator } from '../../../src/sandbox/schema-validator.js';
import type { ItemFields } from '../../../src/shared/item-fields.js';
import { repoRoot } from '../../helpers/cli.js';
import { createSource, MutableDirectory, waitUntil } from '../../helpers/source-harness.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';

const schemaDir = process.env.ECS_EWS_SCHEMA_DIR ?? join(repoRoot, '../shared/ews-schemas');
const haveSchema = existsSync(join(schemaDir, 'messages.xsd'));
const MAILBOX = 'user0001@contoso.test';

const tanja: ItemFields = {
  body: 'Met at the fair & booked a demo',
  contact: {
    givenName: 'Tanja', surname: 'Plate', company: 'Blue Yonder Airlines', jobTitle: 'Manager', department: 'Sales',
    emails: ['tplate@example.com', 'tanja@home.example'], phones: { business: '4255550199', mobile: '+49 170 1234567' },
    address: { street: '1234 56th Ave', city: 'La Habra', state: 'CA', postalCode: '90631', country: 'USA' },
  },
};

// The sync's contact operations (ExchangePort) against the sandbox; every message checked
// against Microsoft's published schema.
describe('contacts and contact folders through the EWS client', () => {
  let sandbox: Sandbox;
  let client: EwsClient;
  const validator = haveSchema ? new SchemaValidator(schemaDir) : undefined;

  before(async () => {
    sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0, inspect: validator ? (d, op, xml) => validator.collect(d, op, xml) : undefined });
    client = new EwsClient({
      settings: { url: sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
      gate: new BackoffGate(), maxSockets: 8,
    });
  });
  after(async () => {
    await client.close();
    await sandbox.close();
  });

  it('a contact is created with every part, read back the same, and a cleared phone or e-mail is cleared', async () => {
    const created = await client.createItem(MAILBOX, 'contacts', tanja, 'person:7');
    const [read] = await client.getItems(MAILBOX, 'contacts', [created.itemId]);
    assert.deepEqual(read.item?.contact, tanja.contact);
    assert.equal(read.item?.crmId, 'person:7');
    assert.equal(read.item?.body, tanja.body);
    const changed: ItemFields = { ...tanja, contact: { ...tanja.contact!, emails: ['tplate@example.com'], phones: { business: '4255550100' }, jobTitle: undefined } };
    const outcome = await client.updateItem(MAILBOX, 'contacts', created.itemId, changed, created.changeKey);
    assert.equal(outcome.status, 'updated');
    const [again] = await client.getItems(MAILBOX, 'contacts', [created.itemId]);
    assert.deepEqual(again.item?.contact, { givenName: 'Tanja', surname: 'Plate', company: 'Blue Yonder Airlines', department: 'Sales', emails: ['tplate@example.com'], phones: { business: '4255550100' }, address: tanja.contact!.address });
    const stale = await client.updateItem(MAILBOX, 'contacts', created.itemId, tanja, created.changeKey);
    assert.equal(stale.status, 'conflict', 'a write on an old ChangeKey is refused');
  });

  it('a contact folder is made once (a second ensure finds it), filled in batches, listed by stamp, renamed and deleted', async () => {
    const folderId = await client.ensureContactFolder(MAILBOX, 'Key accounts');
    assert.equal(await client.ensureContactFolder(MAILBOX, 'key accounts'), folderId, 'the folder of that name is adopted');
    const entries = Array.from({ length: 230 }, (_, i) => ({ crmId: `person:${1000 + i}`, fields: { contact: { givenName: `Given${i}`, surname: 'Member', emails: [`member${i}@example.com`], phones: {} } } }));
    const before = sandbox.stats.requestsByOperation.get('CreateItem') ?? 0;
    const results = await client.createContacts(MAILBOX, folderId, entries);
    assert.equal((sandbox.stats.requestsByOperation.get('CreateItem') ?? 0) - before, 3, '230 contacts in 3 CreateItem requests');
    assert.equal(results.filter((r) => 'itemId' in r).length, 230);
    const stamped = await client.stampedIn(MAILBOX, folderId);
    assert.equal(stamped.size, 230);
    assert.equal(stamped.get('person:1005')?.itemId, (results[5] as { itemId: string }).itemId);
    assert.equal(await client.renameFolder(MAILBOX, folderId, 'Key accounts 2027'), true);
    const mailbox = sandbox.store.byEmail(MAILBOX)!;
    assert.ok([...mailbox.folders.values()].some((f) => f.displayName === 'Key accounts 2027'));
    await client.deleteItems(MAILBOX, results.slice(0, 30).map((r) => (r as { itemId: string }).itemId));
    assert.equal((await client.stampedIn(MAILBOX, folderId)).size, 200);
    assert.equal(await client.deleteFolder(MAILBOX, folderId), true);
    assert.equal(await client.deleteFolder(MAILBOX, folderId), false, 'a folder gone already is no error');
    assert.equal(await client.renameFolder(MAILBOX, folderId, 'x'), false);
    assert.ok(![...mailbox.folders.values()].some((f) => f.displayName.startsWith('Key accounts')));
  });

  it('every request and response of these operations validates against the EWS schema', { skip: haveSchema ? false : `EWS schema files not found in ${schemaDir}` }, async () => {
    const problems = await validator!.validate();
    assert.deepEqual(problems, []);
  });
});

// The Contacts folder joins the subscriptions in both modes; a contact folder under it (a
// selection's, written by the sync alone) does not: its contacts never come back as changes.
for (const mode of ['stream', 'pull'] as const) {
  describe(`the Contacts folder in ${mode === 'stream' ? 'EwsStream' : 'EwsPull'}`, () => {
    it('a contact created, changed and deleted in Contacts is signalled with its folder; one in a folder under it is not', async () => {
      const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0, limits: { heartbeatMs: 300 } });
      const { source, exchange } = createSource(mode, sandbox, new MemoryPositionStore(), new MutableDirectory(sandbox.store.all().map((m) => m.address)), { folders: ['calendar', 'tasks', 'contacts'] });
      const signals: Array<{ folder: string; op: string; itemId: string }> = [];
      source.signals.subscribe((s) => signals.push({ folder: s.folder, op: s.op, itemId: s.itemId }));
      try {
        source.start();
        await waitUntil(() => source.stats().initialSyncDone === 2, 20_000, 'initial sync');
        const created = await exchange.createItem(MAILBOX, 'contacts', tanja, 'person:1');
        await waitUntil(() => signals.some((s) => s.itemId === created.itemId && s.folder === 'contacts'), 20_000, 'the new contact signalled');
        const folderId = await exchange.ensureContactFolder(MAILBOX, 'Selection');
        const [copy] = await exchange.createContacts(MAILBOX, folderId, [{ crmId: 'person:2', fields: { contact: { givenName: 'Copy', emails: [], phones: {} } } }]);
        await exchange.updateItem(MAILBOX, 'contacts', created.itemId, { ...tanja, contact: { ...tanja.contact!, jobTitle: 'Director' } });
        await exchange.deleteItem(MAILBOX, created.itemId);
        await waitUntil(() => signals.some((s) => s.itemId === created.itemId && s.op === 'd'), 20_000, 'the delete signalled');
        await new Promise((r) => setTimeout(r, 1_500));
        assert.deepEqual(signals.filter((s) => s.itemId === (copy as { itemId: string }).itemId), [], 'the selection folder\'s contact is not a change');
        assert.ok(signals.filter((s) => s.itemId === created.itemId).every((s) => s.folder === 'contacts'));
      } finally {
        await source.stop();
        await exchange.close();
        await sandbox.close();
      }
    });
  });
}
