import { BackoffGate } from '../../../src/shared/backoff-gate.js';
import { EwsClient } from '../../../src/ews/ews-client.js';
import { ewsChangeReader } from '../../../src/ews/ews-change-reader.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { mailboxStoreContract } from '../../helpers/mailbox-store-contract.js';

// EWS on the sandbox; the user's hands: ews-javascript-api, impersonating the mailbox, as Outlook's EWS would.
mailboxStoreContract('EWS (EwsClient on the sandbox)', async () => {
  const sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 1, seed: 61 });
  const mailbox = 'user0001@contoso.test';
  const store = new EwsClient({
    settings: { url: sandbox.url, user: sandbox.serviceAccount, passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
    gate: new BackoffGate(), maxSockets: 8,
  });
  const service = ewsService(sandbox.url, mailbox);
  return {
    store, mailbox, changes: ewsChangeReader(store),
    user: {
      rename: async (itemId, subject) => {
        // as Outlook does: a calendar item's update says whether to send meeting updates
        const item = await ews.Appointment.Bind(service, new ews.ItemId(itemId));
        item.Subject = subject;
        await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      },
    },
    close: async () => {
      await store.close();
      await sandbox.close();
    },
  };
});
