import { formatUtc } from '../shared/time-zones.js';
import { folderChangeKeyOf, folderIdOf, watermarkOf } from './ids.js';
import type { Mailbox, MailboxEvent } from './mailbox-store.js';
import { el } from './xml-writer.js';

/**
 * One notification event as Exchange writes it (BaseObjectChangedEventType and kin). Pull
 * events carry their Watermark; streaming events, as captured from Exchange, do not.
 */
export function eventXml(mailbox: Mailbox, event: MailboxEvent, epoch: number, withWatermark = true): string {
  const folderRef = (name: string, folder: string): string =>
    el(name, null, { Id: folderIdOf(mailbox.index, folder), ChangeKey: folderChangeKeyOf(mailbox.index) });
  const subject = event.folderEvent
    ? folderRef('t:FolderId', event.folder) + folderRef('t:ParentFolderId', mailbox.folders.get(event.folder)?.parent ?? 'msgfolderroot')
    : el('t:ItemId', null, { Id: event.itemId, ChangeKey: event.changeKey }) + folderRef('t:ParentFolderId', event.folder);
  let inner = (withWatermark ? el('t:Watermark', watermarkOf(mailbox.index, event.seq, epoch)) : '') + el('t:TimeStamp', formatUtc(event.time)) + subject;
  if (event.type === 'MovedEvent' || event.type === 'CopiedEvent') {
    inner += el('t:OldItemId', null, { Id: event.oldItemId }) + folderRef('t:OldParentFolderId', event.oldFolder ?? event.folder);
  }
  return `<t:${event.type}>${inner}</t:${event.type}>`;
}

export function statusEventXml(mailbox: Mailbox, lastSeq: number, epoch: number): string {
  return `<t:StatusEvent>${el('t:Watermark', watermarkOf(mailbox.index, lastSeq, epoch))}</t:StatusEvent>`;
}
