import { createHash } from 'node:crypto';

/**
 * The key the sync stamps on a CRM record it creates for an Exchange item (a column of the
 * reference CRM, a SuperOffice foreign key): short and fixed-length, since a foreign key's
 * value is, and the same for the same item every time, so a create cut short is found again.
 */
export function exchangeStamp(mailbox: string, itemId: string): string {
  return `ews:${createHash('sha256').update(`${mailbox.toLowerCase()}\n${itemId}`).digest('base64url').slice(0, 32)}`;
}
