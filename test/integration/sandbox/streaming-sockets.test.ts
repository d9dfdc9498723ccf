// Found by the 10,000-mailbox benchmark: with 50 streaming connections open and 48 sockets
// allowed, no Subscribe or SyncFolderItems could be sent any more. Streams have sockets of
// their own now: open more streams than maxSockets and ordinary requests still go through.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { startSandbox } from '../../../src/sandbox/index.js';

describe('EWS client sockets', () => {
  it('streaming connections beyond maxSockets do not starve other requests', async () => {
    const sandbox = await startSandbox({ mailboxes: 4, itemsPerMailbox: 1, seed: 9, limits: { heartbeatMs: 500 } });
    const exchange = new EwsClient({
      settings: { url: sandbox.url, user: sandbox.serviceAccount, passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
      gate: new BackoffGate(), maxSockets: 2,
    });
    const streams = [];
    try {
      for (const mailbox of ['user0001@contoso.test', 'user0002@contoso.test', 'user0003@contoso.test']) {
        const group = { anchorMailbox: mailbox };
        const id = await exchange.subscribeStreaming(mailbox, ['calendar'], group);
        streams.push(exchange.streamEvents(group, [id], 5).subscribe({ error: () => undefined }));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(sandbox.openConnections.size, 3, 'three streams open on a client allowed two sockets');
      const page = await Promise.race([
        exchange.syncFolderItems('user0004@contoso.test', 'calendar', null, 10),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('SyncFolderItems starved: no socket left')), 5_000)),
      ]);
      assert.equal(page.changes.length, 1);
    } finally {
      for (const s of streams) s.unsubscribe();
      await exchange.close();
      await sandbox.close();
    }
  });
});
