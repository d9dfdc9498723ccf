// Over Microsoft Graph an update or delete of the organiser's copy of a meeting mails its
// attendees (Graph's event-update and event-delete pages), and Graph has no "send none". The
// CRM → Exchange handler therefore leaves a user's meetings to their organiser: the CRM edit
// or delete is skipped and said, no attendee is mailed. Real parts: the sandbox's Graph
// endpoint (it counts the messages Graph would send), the Graph store, the handler, the
// mapping store on PGlite; the fake CRM only orders versions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OAuthCredentials } from '../../../src/ews/index.js';
import { GraphHttp, GraphMailboxStore } from '../../../src/graph/index.js';
import { ItemMappingStore, ToExchangeHandler } from '../../../src/handlers/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { restIdOf } from '../../../src/sandbox/graph/graph-ids.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgliteDatabase } from '../../../src/state/index.js';
import type { ChangeEnvelope } from '../../../src/streams/envelope.js';
import { organiseMeeting } from '../../helpers/ews.js';
import { FakeCrm } from '../../helpers/fake-crm.js';

const MAILBOX = 'user0001@contoso.test';
const DAY = 86_400_000;
const tomorrowAt = (hourUtc: number): number => (Math.floor(Date.now() / DAY) + 1) * DAY + hourUtc * 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function fromCrm(ref: string, version: string, op: 'u' | 'd', subject: string, start: number): ChangeEnvelope {
  return {
    specversion: '1.0', v: 2, id: `id-${ref}-${version}`, source: 'crm:fake', type: 'appointment', op, time: '2026-12-01T10:00:00Z',
    position: { kind: 'crm-change-log', value: version, scope: 'fake' }, subject: ref, before: null,
    after: op === 'd' ? null : { subject, start: iso(start), end: iso(start + 3_600_000), version, associateEmail: MAILBOX, owner: 'associate:1' }, origin: 'crm', detectedAt: 0,
  };
}

describe('Microsoft Graph: the sync never writes a user\'s meeting (Graph would mail its attendees)', () => {
  let sandbox: Sandbox;
  let store: GraphMailboxStore;
  let db: PgliteDatabase;
  before(async () => {
    const apps = [{ tenant: 'contoso', clientId: 'sync-app', clientSecret: 'sync-secret' }];
    sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 0, seed: 64, oauth: { apps }, graph: true });
    const tokens = sandbox.tokens!;
    store = new GraphMailboxStore({
      http: new GraphHttp({ url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000, tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId: 'sync-app', clientSecret: 'sync-secret', scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }) }),
      windowPastDays: 30, windowFutureDays: 365,
    });
    db = await PgliteDatabase.open(null);
  });
  after(async () => {
    await store.close();
    await sandbox.close();
    await db.close();
  });

  /** A meeting the user organised in Outlook, with two attendees (invitations counted: the counter works). */
  const meeting = async (subject: string, start: number): Promise<string> => {
    const before = sandbox.stats.meetingMessages;
    const id = await organiseMeeting(sandbox.url, MAILBOX, { subject, start, attendees: ['ann@fabrikam.test', 'bob@fabrikam.test'] });
    assert.equal(sandbox.stats.meetingMessages, before + 2);
    return restIdOf(id);
  };

  it('a CRM edit and a CRM delete of the user\'s meeting are skipped and counted; an appointment without attendees is written', async () => {
    await ItemMappingStore.migrate(db, 'state_meetings');
    const mappings = new ItemMappingStore(db, 'state_meetings');
    const skipped: string[] = [];
    const handler = new ToExchangeHandler({ mappings, crm: new FakeCrm([MAILBOX]), exchange: store, logger: silentLogger(), privateItems: 'sync', onPolicySkip: (rule) => skipped.push(rule) });
    const start = tomorrowAt(9);
    const steering = await meeting('Steering committee', start);
    const [read] = await store.getItems(MAILBOX, 'calendar', [steering]);
    await mappings.save({ mailbox: MAILBOX, itemId: steering, crmId: 'appointment:1', changeKey: read!.item!.version!, crmVersion: 'v1', logPartition: -1, logOffset: -1, deleted: false, folder: 'calendar' });
    const sent = sandbox.stats.meetingMessages;

    assert.equal(await handler.handle(fromCrm('appointment:1', 'v2', 'u', 'Steering committee (CRM edit)', start), MAILBOX), 'skipped');
    assert.equal(await handler.handle(fromCrm('appointment:1', 'v2', 'u', 'Steering committee (CRM edit)', start), MAILBOX), 'unchanged', 'taken as handled: not tried again');
    const [after] = await store.getItems(MAILBOX, 'calendar', [steering]);
    assert.equal(after?.item?.subject, 'Steering committee', 'the meeting is as its organiser made it');
    assert.equal(await handler.handle(fromCrm('appointment:1', 'v3', 'd', '', start), MAILBOX), 'skipped');
    assert.equal((await store.getItems(MAILBOX, 'calendar', [steering]))[0]?.item?.subject, 'Steering committee', 'the meeting is still in the calendar');
    assert.equal((await mappings.getByCrmId('appointment:1'))?.deleted, true, 'the record is gone; the meeting gets one again at its next change');
    assert.deepEqual(skipped, ['meeting', 'meeting']);
    assert.equal(sandbox.stats.meetingMessages, sent, 'no attendee was mailed');

    // an appointment without attendees is the CRM's to change, as before
    const plain = await store.createItem(MAILBOX, 'calendar', { subject: 'Dentist', start: iso(start + DAY), end: iso(start + DAY + 1_800_000) }, 'appointment:2');
    await mappings.save({ mailbox: MAILBOX, itemId: plain.itemId, crmId: 'appointment:2', changeKey: plain.changeKey, crmVersion: 'v1', logPartition: -1, logOffset: -1, deleted: false, folder: 'calendar' });
    assert.equal(await handler.handle(fromCrm('appointment:2', 'v2', 'u', 'Dentist (moved)', start + DAY), MAILBOX), 'applied');
    assert.equal((await store.getItems(MAILBOX, 'calendar', [plain.itemId]))[0]?.item?.subject, 'Dentist (moved)');
    assert.deepEqual(skipped, ['meeting', 'meeting']);
  });
});
