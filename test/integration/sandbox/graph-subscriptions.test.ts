// The sandbox's Graph change notifications against the product's webhook: the validation
// handshake (refused when the endpoint does not echo the token), Outlook's lifetime limit,
// delivery of created/updated/deleted with the clientState, a notification with another
// clientState not taken, renewal, and subscriptionRemoved to the lifecycle URL.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { OAuthCredentials } from '../../../src/ews/index.js';
import { GraphHttp, GraphNotificationChannel, NotificationReceiver, type ReceivedNotification } from '../../../src/graph/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { waitUntil } from '../../helpers/source-harness.js';

const apps = [{ tenant: 'contoso', clientId: 'sync', clientSecret: 'secret' }];

describe('Graph change notifications (sandbox ↔ the sync\'s webhook)', () => {
  it('validation, delivery with the clientState, a forged notification refused, renewal, subscriptionRemoved; limits as Outlook\'s', async () => {
    const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0, seed: 5, oauth: { apps }, graph: true });
    const tokens = sandbox.tokens!;
    const http = new GraphHttp({
      url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000,
      tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId: 'sync', clientSecret: 'secret', scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }),
    });
    const receiver = new NotificationReceiver({ host: '127.0.0.1', port: 0, clientState: async () => 'our-secret' });
    const channel = new GraphNotificationChannel({ http, receiver, clientState: async () => 'our-secret', lifetimeMinutes: 60 });
    const seen: ReceivedNotification[] = [];
    receiver.notifications.subscribe((n) => seen.push(n));
    // an endpoint that does not echo the token
    const deaf = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    });
    await new Promise<void>((r) => deaf.listen(0, '127.0.0.1', r));
    try {
      const mailbox = 'user0001@contoso.test';
      const sub = await channel.subscribe(mailbox);
      assert.ok(sub.id && sub.expiresAt > Date.now() + 59 * 60_000 && sub.expiresAt <= Date.now() + 61 * 60_000);
      assert.equal(sandbox.graph!.subscriptions.size, 1);

      const refused = await http.call('POST', '/subscriptions', {
        accept: [400], body: { changeType: 'created', resource: `/users/${mailbox}/events`, notificationUrl: `http://127.0.0.1:${(deaf.address() as AddressInfo).port}/x`, expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(), clientState: 'x' },
      });
      assert.equal(refused.status, 400, 'an endpoint that does not echo the validation token gets no subscription');
      const tooLong = await http.call('POST', '/subscriptions', {
        accept: [400], body: { changeType: 'created', resource: `/users/${mailbox}/events`, ...(await receiver.urls()), expirationDateTime: new Date(Date.now() + 10_081 * 60_000).toISOString(), clientState: 'x' },
      });
      assert.match(JSON.stringify(tooLong.body), /10080 minutes/);
      assert.equal(sandbox.graph!.subscriptions.size, 1);

      // a user's change: created, updated, deleted — each delivered with our clientState
      const made = (await http.call('POST', `/users/${mailbox}/events`, { body: { subject: 'n', start: { dateTime: '2027-01-04T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2027-01-04T10:00:00', timeZone: 'UTC' } } })).body as { id: string };
      await http.call('PATCH', `/users/${mailbox}/events/${made.id}`, { body: { subject: 'n2' } });
      await http.call('DELETE', `/users/${mailbox}/events/${made.id}`);
      await waitUntil(() => seen.length >= 3, 5_000, 'three notifications');
      assert.deepEqual(seen.map((n) => [n.kind, n.subscriptionId]), [['changed', sub.id], ['changed', sub.id], ['changed', sub.id]]);
      // the other mailbox's change is not ours
      await http.call('POST', '/users/user0002@contoso.test/events', { body: { subject: 'other' } });

      // a notification with another clientState (someone who guessed the URL) is not taken
      const urls = await receiver.urls();
      const forged = await fetch(urls.notificationUrl, { method: 'POST', body: JSON.stringify({ value: [{ subscriptionId: sub.id, clientState: 'guess', changeType: 'created' }] }) });
      assert.equal(forged.status, 202);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(receiver.rejected, 1);
      assert.equal(seen.length, 3);

      const renewed = await channel.renew(sub.id);
      assert.ok(renewed && renewed.id === sub.id);
      assert.equal(await channel.renew('no-such-subscription'), undefined);

      assert.equal(sandbox.graph!.subscriptions.removeAll(), 1);
      await waitUntil(() => seen.some((n) => n.kind === 'subscriptionRemoved'), 5_000, 'subscriptionRemoved');
      assert.equal(await channel.renew(sub.id), undefined, 'a removed subscription is gone');
    } finally {
      deaf.close();
      await receiver.close();
      http.close();
      await sandbox.close();
    }
  });
});
