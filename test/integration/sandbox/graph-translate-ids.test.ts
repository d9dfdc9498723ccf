// The sandbox's translateExchangeIds (user-translateexchangeids.md): an item EWS names and the
// same item as Graph names it, both ways and through MAPI's entryId; another mailbox's id and
// a malformed one answer with errorDetails, the rest are translated; the role is checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OAuthCredentials } from '../../../src/ews/index.js';
import { GraphHttp } from '../../../src/graph/index.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { startSandbox } from '../../../src/sandbox/index.js';

describe('Graph translateExchangeIds (sandbox)', () => {
  it('EWS ids ↔ Graph ids ↔ entryIds of one mailbox; others and malformed ones answer errorDetails; needs User.Read.All', async () => {
    const apps = [{ tenant: 'contoso', clientId: 'sync', clientSecret: 'secret' }, { tenant: 'contoso', clientId: 'calendar-only', clientSecret: 'secret', graphRoles: ['Calendars.ReadWrite'] }];
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 10, seed: 8, oauth: { apps }, graph: true });
    const tokens = sandbox.tokens!;
    const httpOf = (clientId: string): GraphHttp => new GraphHttp({
      url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000,
      tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId, clientSecret: 'secret', scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }),
    });
    const http = httpOf('sync');
    const calendarOnly = httpOf('calendar-only');
    try {
      const mailbox = sandbox.store.byIndex(1)!;
      const [a, b] = sandbox.store.itemsIn(mailbox, 'calendar');
      const ewsIds = [itemIdOf(1, a.seq), itemIdOf(1, b.seq)];
      const translate = async (inputIds: string[], sourceIdType: string, targetIdType: string, client = http): Promise<{ status: number; value: Array<{ sourceId: string; targetId?: string; errorDetails?: { code: string } }> }> => {
        const r = await client.call('POST', `/users/${mailbox.address}/translateExchangeIds`, { body: { inputIds, sourceIdType, targetIdType }, accept: [400, 403, 501] });
        return { status: r.status, value: (r.body as { value?: [] }).value ?? [] };
      };
      const rest = await translate(ewsIds, 'ewsId', 'restId');
      assert.equal(rest.status, 200);
      const restIds = rest.value.map((v) => v.targetId!);
      // the Graph ids are those the events are read by
      for (const id of restIds) assert.equal((await http.call('GET', `/users/${mailbox.address}/events/${encodeURIComponent(id)}?$select=id`)).status, 200);
      assert.deepEqual((await translate(restIds, 'restId', 'ewsId')).value.map((v) => v.targetId), ewsIds);
      const entry = (await translate(ewsIds, 'ewsId', 'entryId')).value.map((v) => v.targetId!);
      assert.ok(entry.every((e) => /^[A-Za-z0-9_-]+[012]$/.test(e)), 'URL-safe base64 with the padding counted');
      assert.deepEqual((await translate(entry, 'entryId', 'restId')).value.map((v) => v.targetId), restIds);
      // another mailbox's id and a malformed one: errorDetails for those, the rest translated
      const mixed = await translate([ewsIds[0], itemIdOf(2, 1), 'not-an-id'], 'ewsId', 'restId');
      assert.deepEqual(mixed.value.map((v) => v.targetId ?? v.errorDetails?.code), [restIds[0], 'ErrorInvalidIdMalformed', 'ErrorInvalidIdMalformed']);
      assert.equal((await translate(ewsIds, 'ewsId', 'restImmutableEntryId')).status, 501, 'the immutable formats are not served, and say so');
      assert.equal((await translate(ewsIds, 'ewsId', 'nonsense')).status, 400);
      assert.equal((await translate(ewsIds, 'ewsId', 'restId', calendarOnly)).status, 403, 'an app without User.Read.All');
    } finally {
      http.close();
      calendarOnly.close();
      await sandbox.close();
    }
  });
});
