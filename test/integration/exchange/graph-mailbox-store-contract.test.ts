import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EwsClient } from '../../../src/ews/ews-client.js';
import { OAuthCredentials } from '../../../src/ews/index.js';
import { BackoffGate } from '../../../src/shared/backoff-gate.js';
import { GraphHttp, GraphMailboxStore } from '../../../src/graph/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { mailboxStoreContract } from '../../helpers/mailbox-store-contract.js';

// Microsoft Graph on the sandbox's Graph endpoint, over the same mailboxes EWS serves; tokens
// from its Entra endpoint through msal. The user's hands: another app's Graph PATCH (Outlook
// on the web's way), never the store under test.
mailboxStoreContract('Microsoft Graph (GraphMailboxStore on the sandbox)', async () => {
  const apps = [{ tenant: 'contoso', clientId: 'sync-app', clientSecret: 'sync-secret' }, { tenant: 'contoso', clientId: 'outlook-web', clientSecret: 'owa-secret' }];
  const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 1, seed: 62, oauth: { apps }, graph: true });
  const tokens = sandbox.tokens!;
  const httpOf = (clientId: string, clientSecret: string): GraphHttp => new GraphHttp({
    url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000,
    tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId, clientSecret, scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }),
  });
  const store = new GraphMailboxStore({ http: httpOf('sync-app', 'sync-secret'), windowPastDays: 30, windowFutureDays: 365 });
  const user = httpOf('outlook-web', 'owa-secret');
  const mailbox = 'user0001@contoso.test';
  return {
    store, mailbox, changes: store,
    user: {
      rename: async (itemId, subject) => {
        await user.call('PATCH', `/users/${mailbox}/events/${encodeURIComponent(itemId)}`, { body: { subject } });
      },
    },
    close: async () => {
      user.close();
      await store.close();
      await sandbox.close();
    },
  };
});

// One mailbox seen through both protocols: what one writes, the other reads the same — the
// proof an EWS → Graph migration stands on (an item stamped over EWS is the same item, with the
// same card, over Graph).
describe('one mailbox through EWS and Microsoft Graph', () => {
  it('an appointment, a series and a contact written over one protocol are read the same over the other, stamps and ids included', async () => {
    const apps = [{ tenant: 'contoso', clientId: 'sync-app', clientSecret: 'sync-secret' }];
    const sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 0, seed: 63, oauth: { apps }, graph: true });
    const tokens = sandbox.tokens!;
    const graph = new GraphMailboxStore({
      http: new GraphHttp({
        url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000,
        tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId: 'sync-app', clientSecret: 'sync-secret', scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }),
      }),
      windowPastDays: 30, windowFutureDays: 365,
    });
    const ewsStore = new EwsClient({
      settings: { url: sandbox.url, user: sandbox.serviceAccount, passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
      gate: new BackoffGate(), maxSockets: 8,
    });
    const mailbox = 'user0001@contoso.test';
    const day = (Math.floor(Date.now() / 86_400_000) + 2) * 86_400_000;
    const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      const card = { givenName: 'Grace', surname: 'Hopper', company: 'Navy', emails: ['grace@example.test'], phones: { business: '+1 202 555 0100', businessFax: '+1 202 555 0101', other: '+1 202 555 0102' }, address: { city: 'Arlington', country: 'USA' } };
      for (const [writer, reader, name] of [[ewsStore, graph, 'EWS → Graph'], [graph, ewsStore, 'Graph → EWS']] as const) {
        const single = await writer.createItem(mailbox, 'calendar', { subject: `${name}: single`, start: iso(day + 9 * 3_600_000), end: iso(day + 10 * 3_600_000), location: 'Room 7' }, `appointment:${name}:1`);
        const series = await writer.createItem(mailbox, 'calendar', {
          subject: `${name}: series`, start: iso(day + 7 * 3_600_000), end: iso(day + 8 * 3_600_000), timeZone: 'UTC', recurrence: { rrule: 'FREQ=DAILY;COUNT=3', exdates: [iso(day + 86_400_000 + 7 * 3_600_000)], exceptions: [] },
        }, `appointment:${name}:2`);
        const contact = await writer.createItem(mailbox, 'contacts', { contact: card }, `person:${name}`);
        const seen = await reader.findStamped(mailbox, 'calendar', `appointment:${name}:1`);
        assert.ok(seen, `${name}: the stamp is the same property on both`);
        // the same item: Graph's id is the EWS id made URL-safe, the version the same ChangeKey
        assert.equal(seen.itemId.replace(/-/g, '/').replace(/_/g, '+'), single.itemId.replace(/-/g, '/').replace(/_/g, '+'));
        assert.equal(seen.changeKey, single.changeKey);
        const [a] = await reader.getItems(mailbox, 'calendar', [seen.itemId]);
        assert.deepEqual([a.item?.subject, a.item?.start, a.item?.end, a.item?.location], [`${name}: single`, iso(day + 9 * 3_600_000), iso(day + 10 * 3_600_000), 'Room 7']);
        const seriesId = (await reader.findStamped(mailbox, 'calendar', `appointment:${name}:2`))!.itemId;
        const [s] = await reader.getItems(mailbox, 'calendar', [seriesId]);
        assert.deepEqual([s.item?.recurrence?.rrule, s.item?.recurrence?.exdates], ['FREQ=DAILY;COUNT=3', [iso(day + 86_400_000 + 7 * 3_600_000)]], `${name}: the series and its deleted occurrence`);
        assert.equal(series.changeKey.length > 0, true);
        const contactId = (await reader.findStamped(mailbox, 'contacts', `person:${name}`))!.itemId;
        const [c] = await reader.getItems(mailbox, 'contacts', [contactId]);
        assert.deepEqual(c.item?.contact, card, `${name}: the card whole, the fax and the other phone included`);
        assert.equal(contact.changeKey, c.item?.version);
      }
    } finally {
      await graph.close();
      await ewsStore.close();
      await sandbox.close();
    }
  });
});
