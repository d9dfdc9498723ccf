import type { ExchangePort, FolderKind } from './exchange-port.js';
import { EwsError } from './ews-error.js';
import { checkSteps, type CheckResult } from '../exchange/index.js';

export type { CheckResult } from '../exchange/index.js';

/** What an EWS error means for an operator preparing Exchange, in their terms. */
export function explainEwsError(err: unknown, mailbox: string, account: string): string {
  const code = err instanceof EwsError ? err.responseCode : '';
  const base = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ErrorImpersonateUserDenied':
      return `${account} may not impersonate ${mailbox}: give it the ApplicationImpersonation role (New-ManagementRoleAssignment -Name ecs-impersonation -Role ApplicationImpersonation -User ${account}, scoped to the synced mailboxes)`;
    case 'ErrorNonExistentMailbox':
    case 'ErrorMailboxMoveInProgress':
      return `Exchange has no usable mailbox ${mailbox} (${code}): check the address, or wait for the move to finish`;
    case 'ErrorAccessDenied':
    case 'ErrorFolderNotFound':
      return `${account} cannot open this folder of ${mailbox} (${code}): impersonation must be on, and the folder must exist`;
    case 'ErrorServerBusy':
    case 'ErrorTooManyObjectsOpened':
      return `Exchange throttles ${account} (${code}): assign it a throttling policy without EWS limits (New-ThrottlingPolicy … -EwsMaxConcurrency Unlimited -EwsMaxSubscriptions Unlimited; Set-ThrottlingPolicyAssociation)`;
    case 'ErrorExceededSubscriptionCount':
    case 'ErrorTooManySubscriptions':
      return `${account} has too many subscriptions (${code}): raise EwsMaxSubscriptions in its throttling policy`;
    case 'HTTP_401':
      return /auth="oauth"/.test(account)
        ? `Exchange refused the token of ${account} (${base}): grant the app the Office 365 Exchange Online application permission full_access_as_app with admin consent, and check the tenant and scope`
        : /auth="ntlm"/.test(account)
          ? `Exchange refused the credentials of ${account} (${base}): check the password in passwordEnv, that the account is not locked, and that Windows authentication is on for the EWS virtual directory`
          : `Exchange refused the credentials of ${account} (HTTP 401): check the password variable and that Basic authentication is enabled for EWS`;
    case 'ErrorOAuthTokenRefused':
      return `the token endpoint refused ${account}: ${base.replace(/^auth="oauth": the token endpoint refused: /, '')} — check tenant, clientId, and the secret in clientSecretEnv or the certificate registered with the app`;
    default:
      return code ? `${code}: ${base}` : base;
  }
}

/**
 * Checks one mailbox the way the sync will use it: impersonation and the folders, reading
 * changes, and a subscription of the configured kind created and removed again.
 */
export async function checkMailbox(exchange: ExchangePort, mailbox: string, options: { account: string; mode: 'EwsStream' | 'EwsPull'; folders: readonly FolderKind[] }): Promise<CheckResult[]> {
  const { results, step } = checkSteps((err) => explainEwsError(err, mailbox, options.account));
  const reached = await step('impersonation and folders', async () => {
    const ids = await exchange.folderIds(mailbox, options.folders);
    return `opened ${Object.values(ids).join(' and ')} of ${mailbox} as ${options.account}`;
  });
  if (!reached) return results;
  for (const folder of options.folders) {
    await step(`read changes (${folder})`, async () => {
      const page = await exchange.syncFolderItems(mailbox, folder, null, 1);
      return `SyncFolderItems answered${page.changes.length ? '' : ' (the folder is empty)'}`;
    });
  }
  await step(`subscribe and unsubscribe (${options.mode === 'EwsStream' ? 'streaming' : 'pull'})`, async () => {
    const group = { anchorMailbox: mailbox };
    const id = options.mode === 'EwsStream' ? await exchange.subscribeStreaming(mailbox, options.folders, group) : (await exchange.subscribePull(mailbox, options.folders, 5)).subscriptionId;
    await exchange.unsubscribe(mailbox, id, group);
    return 'a subscription was created and removed';
  });
  return results;
}
