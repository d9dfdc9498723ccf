import type { EwsContext } from './ews-context.js';
import { EwsResponseError } from './ews-context.js';
import type { StoredItem } from './mailbox-store.js';

/** The attribute each calendar write names, and Exchange's answer when it is missing. */
const ATTRIBUTE = {
  create: { name: 'SendMeetingInvitations', missing: 'ErrorSendMeetingInvitationsRequired' },
  update: { name: 'SendMeetingInvitationsOrCancellations', missing: 'ErrorSendMeetingInvitationsOrCancellationsRequired' },
  delete: { name: 'SendMeetingCancellations', missing: 'ErrorSendMeetingCancellationsRequired' },
} as const;

/** The meeting's attendees and resources (each gets a message when one is sent). */
export function recipientsOf(props: StoredItem['props']): number {
  let n = 0;
  for (const name of ['RequiredAttendees', 'OptionalAttendees', 'Resources']) {
    const list = props[name];
    if (typeof list === 'object' && list !== null && 'children' in list) n += list.children.length;
  }
  return n;
}

/**
 * Exchange asks every write of a calendar item whether to send meeting messages, and sends
 * them to the attendees unless told SendToNone: a sync writing with anything else would mail
 * every attendee of the user's meetings. Counted (`meetingMessages`, per recipient), so a test
 * can hold the sync to never sending one; a calendar write without the attribute is refused
 * as Exchange refuses it.
 */
export function checkMeetingMessages(ctx: EwsContext, operation: keyof typeof ATTRIBUTE, props: StoredItem['props']): void {
  const { name, missing } = ATTRIBUTE[operation];
  const mode = ctx.body.attrs[name];
  if (mode === undefined) throw new EwsResponseError(missing, `The ${name} attribute is required for calendar items.`);
  if (mode === 'SendToNone') return;
  ctx.stats.meetingMessages += recipientsOf(props);
}
