// <sync attendees>: a meeting's attendees link its CRM record to the persons they are (link,
// the default), or are not carried at all (none). The to-crm handler on the reference CRM
// on PostgreSQL, with a person whose address is one attendee's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { ItemMappingStore, ToCrmHandler } from '../../../src/handlers/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase } from '../../../src/state/index.js';
import type { ChangeEnvelope } from '../../../src/streams/envelope.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

const MAILBOX = 'user0001@contoso.test';

function meetingFromExchange(itemId: string, offset: number): [ChangeEnvelope, { partition: number; offset: number }] {
  return [{
    specversion: '1.0', v: 2, id: `id-${itemId}`, source: `exchange:${MAILBOX}`, type: 'appointment', op: 'c', time: '2026-12-01T10:00:00Z',
    position: { kind: 'ews-syncstate', value: 's', scope: `${MAILBOX}:calendar` }, subject: itemId, before: null,
    after: {
      subject: 'Contract review', start: '2026-12-14T09:00:00Z', end: '2026-12-14T10:00:00Z', version: 'ck1', modified: '2026-12-01T10:00:00Z',
      organizer: MAILBOX, attendees: [{ email: 'grace@fabrikam.test', role: 'required' }, { email: 'nobody@elsewhere.test', role: 'optional' }],
    },
    origin: 'exchange', detectedAt: 0,
  }, { partition: 0, offset }];
}

describe('<sync attendees>: what a meeting\'s attendees bring to the CRM', () => {
  const db = new PgDatabase(postgresUrl());
  const crmSchema = uniqueName('crm');
  const stateSchema = uniqueName('state');
  before(async () => {
    await initReferenceCrm(db, crmSchema);
    await seedDemoAssociates(db, crmSchema, [MAILBOX]);
    const contact = await db.query<{ contact_id: number }>(`insert into ${crmSchema}.contact (name) values ('Fabrikam') returning contact_id`);
    await db.query(`insert into ${crmSchema}.person (contact_id, firstname, lastname, email) values ($1, 'Grace', 'Hopper', 'grace@fabrikam.test')`, [contact.rows[0].contact_id]);
    await ItemMappingStore.migrate(db, stateSchema);
  });
  after(async () => {
    await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
    await db.close();
  });

  const linkedPerson = async (title: string, itemId: string): Promise<string | null> => {
    const { rows } = await db.query<{ email: string | null }>(
      `select p.email from ${crmSchema}.appointment a left join ${crmSchema}.person p using (person_id) where a.title = $1 and a.appointment_id = (select max(appointment_id) from ${crmSchema}.appointment where title = $1)`, [title]);
    assert.equal(rows.length, 1, `the record of ${itemId}`);
    return rows[0].email;
  };

  it('link (the default): the record is linked to the attendee who is a CRM person; none: to nobody', async () => {
    const mappings = new ItemMappingStore(db, stateSchema);
    const crm = new ReferenceCrm(db, crmSchema);
    const linking = new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'sync' });
    assert.equal(await linking.handle(...meetingFromExchange('AAMk-meeting-1', 1)), 'applied');
    assert.equal(await linkedPerson('Contract review', 'AAMk-meeting-1'), 'grace@fabrikam.test');

    const notCarrying = new ToCrmHandler({ crm, mappings, logger: silentLogger(), privateItems: 'sync', attendees: 'none' });
    assert.equal(await notCarrying.handle(...meetingFromExchange('AAMk-meeting-2', 2)), 'applied');
    assert.equal(await linkedPerson('Contract review', 'AAMk-meeting-2'), null, 'no person linked');
  });
});
