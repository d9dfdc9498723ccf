// The sync writes into users' calendars, where many items are meetings with attendees.
// Exchange asks each calendar write whether to mail the attendees (invitations, updates,
// cancellations); the sync must answer SendToNone on every path, or each CRM edit of a user's
// meeting would mail everyone invited. The sandbox counts the messages Exchange would send.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as ews from 'ews-javascript-api';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { ewsService, organiseMeeting } from '../../helpers/ews.js';

const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const tomorrowAt = (hourUtc: number): number => (Math.floor(Date.now() / DAY) + 1) * DAY + hourUtc * 3_600_000;

describe('meeting messages: the sync never mails attendees', () => {
  let sandbox: Sandbox;
  let client: EwsClient;
  const mailbox = 'user0001@contoso.test';
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 2, itemsPerMailbox: 0 });
    client = new EwsClient({
      settings: { url: sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
      gate: new BackoffGate(), maxSockets: 4,
    });
  });
  after(async () => {
    await client.close();
    await sandbox.close();
  });

  /** A meeting the user organised in Outlook, invitations sent: the sandbox counts one per attendee. */
  const organised = async (subject: string, start: number, recurrence?: ews.Recurrence): Promise<string> => {
    const before = sandbox.stats.meetingMessages;
    const id = await organiseMeeting(sandbox.url, mailbox, { subject, start, attendees: ['ann@fabrikam.test'], optional: ['bob@fabrikam.test'], recurrence });
    assert.equal(sandbox.stats.meetingMessages, before + 2, 'Outlook\'s invitations are counted: the counter works');
    return id;
  };

  it('a user\'s meeting created, changed, and deleted by the sync, a series\' occurrences changed and deleted: 0 messages', async () => {
    const start = tomorrowAt(9);
    const single = await organised('Steering committee', start);
    const weekly = new ews.Recurrence.WeeklyPattern();
    weekly.StartDate = new ews.DateTime(tomorrowAt(13));
    weekly.Interval = 1;
    weekly.DaysOfTheWeek.Add(new Date(tomorrowAt(13)).getUTCDay() as ews.DayOfTheWeek);
    const series = await organised('Weekly sync', tomorrowAt(13), weekly);
    const sent = sandbox.stats.meetingMessages;

    // CRM → Exchange: a new appointment, an edit of the user's meeting, its occurrences, a delete
    const made = await client.createItem(mailbox, 'calendar', { subject: 'From the CRM', start: iso(start + 7_200_000), end: iso(start + 10_800_000) }, 'appointment:7001');
    const [read] = await client.getItems(mailbox, 'calendar', [single]);
    assert.equal(read?.item?.attendees?.length, 2, 'the meeting has its attendees');
    const edited = await client.updateItem(mailbox, 'calendar', single, { ...read!.item!, subject: 'Steering committee (room changed)', location: 'Room 4' }, read!.item!.version);
    assert.equal(edited.status, 'updated');
    const second = iso(tomorrowAt(13) + 7 * DAY);
    const third = iso(tomorrowAt(13) + 14 * DAY);
    assert.ok(await client.updateOccurrence(mailbox, series, second, { subject: 'Weekly sync (moved)', start: iso(tomorrowAt(14) + 7 * DAY), end: iso(tomorrowAt(15) + 7 * DAY) }));
    assert.ok(await client.updateOccurrence(mailbox, series, third, null));
    const [seriesRead] = await client.getItems(mailbox, 'calendar', [series]);
    const fourth = iso(tomorrowAt(13) + 21 * DAY);
    const withExdate = { ...seriesRead!.item!, recurrence: { ...seriesRead!.item!.recurrence!, exdates: [...seriesRead!.item!.recurrence!.exdates, fourth] } };
    assert.equal((await client.updateItem(mailbox, 'calendar', series, withExdate, seriesRead!.item!.version)).status, 'updated');
    assert.ok(await client.deleteItem(mailbox, single));
    assert.ok(await client.deleteItem(mailbox, made.itemId));

    assert.equal(sandbox.stats.meetingMessages, sent, 'no invitation, update or cancellation was sent');
    const refused = ['ErrorSendMeetingInvitationsRequired', 'ErrorSendMeetingInvitationsOrCancellationsRequired', 'ErrorSendMeetingCancellationsRequired'].map((c) => sandbox.stats.errorsByCode.get(c) ?? 0);
    assert.deepEqual(refused, [0, 0, 0], 'every calendar write said SendToNone (Exchange refuses one that says nothing)');
  });

  it('Exchange refuses a calendar write that does not say whether to mail the attendees, as the sandbox does', async () => {
    const id = await organised('Budget review', tomorrowAt(10));
    const item = await ews.Item.Bind(ewsService(sandbox.url, mailbox), new ews.ItemId(id));
    item.Subject = 'Budget review (moved)';
    await assert.rejects(() => item.Update(ews.ConflictResolutionMode.AlwaysOverwrite), /SendMeetingInvitationsOrCancellations attribute is required/);
  });
});
