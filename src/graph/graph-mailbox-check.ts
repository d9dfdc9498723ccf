import { checkSteps, type CheckResult, type NotificationChannel } from '../exchange/index.js';
import { GraphApiError } from './graph-error.js';
import type { OpenedGraph } from './open-graph.js';

/** What a Graph failure means for an operator preparing Exchange Online, in their terms. */
function explain(err: unknown, mailbox: string, app: string): string {
  const code = err instanceof GraphApiError ? err.protocolCode : '';
  const base = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'TokenRefused':
      return `the token endpoint refused the app ${app}: ${base} — check tenant, clientId, and the secret in clientSecretEnv or the certificate registered with the app`;
    case 'InvalidAuthenticationToken':
      return `Microsoft Graph refused the token of ${app} (${base}): check the tenant and that the app registration is in it`;
    case 'ErrorAccessDenied':
    case 'Authorization_RequestDenied':
      return `the app ${app} may not use ${mailbox} (${code}): grant it the Microsoft Graph application permission Calendars.ReadWrite with admin consent; if RBAC for Applications or an application access policy limits it, ${mailbox} must be in its scope`;
    case 'ErrorInvalidUser':
    case 'MailboxNotEnabledForRESTAPI':
    case 'ResourceNotFound':
      return `Exchange Online has no mailbox ${mailbox} (${code}): check the address (an on-premises mailbox is reached over EWS)`;
    case 'ValidationError':
      return `Microsoft Graph could not reach the webhook (${base}): notificationUrl must be a public https address forwarding /graph/notifications and /graph/lifecycle to <graph listen>`;
    case 'TooManyRequests':
    case 'ApplicationThrottled':
      return `Microsoft Graph throttles the app (${code}): try again later; the sync keeps 4 requests under way and waits out Retry-After`;
    default:
      return code ? `${code}: ${base}` : base;
  }
}

/**
 * Checks one mailbox the way the sync will use it over Microsoft Graph: a token, its calendar,
 * the delta read, and with GraphNotify a subscription made (Graph reaching our webhook) and
 * removed again. Nothing in the mailbox is written.
 */
export async function checkGraphMailbox(graph: OpenedGraph, mailbox: string, options: { app: string; channel?: NotificationChannel }): Promise<CheckResult[]> {
  const { results, step } = checkSteps((err) => explain(err, mailbox, options.app));
  const path = `/users/${encodeURIComponent(mailbox)}/events`;
  const reached = await step('the calendar', async () => {
    await graph.http.call('GET', `${path}?$top=1&$select=id`);
    return `read the calendar of ${mailbox} as the app ${options.app}`;
  });
  if (!reached) return results;
  await step('reading changes (delta)', async () => {
    const page = await graph.store.readChanges(mailbox, 'calendar', null, 10);
    return `the calendar view's delta answered: ${page.changes.length} event(s) on its first page${page.complete ? '' : ', more to come'}`;
  });
  const { channel } = options;
  if (channel) {
    await step('a change-notification subscription (webhook)', async () => {
      const made = await channel.subscribe(mailbox);
      await channel.unsubscribe(made.id);
      return `Graph validated ${made.target} and the subscription was removed again`;
    });
  }
  return results;
}
