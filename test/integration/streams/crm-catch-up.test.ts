import assert from 'node:assert/strict';
import { it } from 'node:test';
import { initReferenceCrm, ReferenceCrm } from '../../../src/crm-adapter/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryPositionStore, PgDatabase, PgliteDatabase } from '../../../src/state/index.js';
import { CrmCatchUp, type MappedActivity } from '../../../src/streams/crm-catch-up.js';
import { parseEnvelope } from '../../../src/streams/envelope.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

/**
 * A mailbox switched back towards Exchange is caught up with what the CRM did meanwhile, for
 * its appointments and for the persons it owns (its contacts): on the reference CRM in
 * PostgreSQL, published to the embedded log. A person edited, one made and one deleted while
 * the mailbox was not written to come as an update, a create and a delete; one the mailbox
 * already has at its version, and the sync's own write, come not at all.
 */
it('the catch-up of a mailbox brings its contacts as well as its appointments: edited, made and deleted meanwhile', async () => {
  const db = new PgDatabase(postgresUrl());
  const schema = uniqueName('crm');
  const log = await PgliteDatabase.open(null);
  try {
    await initReferenceCrm(db, schema);
    const crm = new ReferenceCrm(db, schema);
    const { rows: [ann] } = await db.query<{ associate_id: number }>(`insert into ${schema}.associate (name, email) values ('Ann', 'ann@contoso.test') returning associate_id`);
    const person = async (last: string): Promise<string> =>
      `person:${(await db.query<{ person_id: number }>(`insert into ${schema}.person (firstname, lastname, email, associate_id) values ('P', $1, $2, $3) returning person_id`, [last, `${last.toLowerCase()}@customer.test`, ann.associate_id])).rows[0].person_id}`;
    const idOf = (ref: string): number => Number(ref.split(':')[1]);
    const [edited, kept, gone] = [await person('Edited'), await person('Kept'), await person('Gone')];
    const { rows: [visit] } = await db.query<{ appointment_id: number }>(`insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, 'Visit', '2026-12-20T09:00:00Z', '2026-12-20T10:00:00Z', 'UTC') returning appointment_id`, [ann.associate_id]);
    // what the mailbox had when it was switched to to-crm: the three contacts and the visit, at their versions then
    const versionOf = async (ref: string): Promise<string> => (await crm.recordsOf(`associate:${ann.associate_id}`)).find((r) => r.ref === ref)!.version;
    const mapped: MappedActivity[] = [
      ...await Promise.all([edited, kept, gone].map(async (ref, i) => ({ crmId: ref, crmVersion: await versionOf(ref), itemId: `contact-${i}`, folder: 'contacts' }))),
      { crmId: `appointment:${visit.appointment_id}`, crmVersion: await versionOf(`appointment:${visit.appointment_id}`), itemId: 'visit', folder: 'calendar' },
    ];
    // meanwhile, in the CRM: a user edits a person, makes one, deletes one, and makes an appointment; the sync writes one person
    await db.query(`update ${schema}.person set lastname = 'Edited again' where person_id = $1`, [idOf(edited)]);
    const made = await person('Made');
    await db.query(`delete from ${schema}.person where person_id = $1`, [idOf(gone)]);
    await db.query(`insert into ${schema}.appointment (associate_id, type, title, start_at, end_at, time_zone) values ($1, 1, 'Lunch', '2026-12-21T12:00:00Z', '2026-12-21T13:00:00Z', 'UTC')`, [ann.associate_id]);
    const bySync = await crm.createPerson(`associate:${ann.associate_id}`, { contact: { givenName: 'S', surname: 'Synced', company: 'Customer', emails: ['s@customer.test'], phones: {} }, subject: 'S Synced' }, 'ews:synced');

    const transport = await EmbeddedTransport.open(log, 'log', 1, silentLogger());
    await transport.ensureTopics(['crm.changes']);
    const catchUp = new CrmCatchUp({ crm, feedName: 'reference', mapped: async () => mapped, positions: new MemoryPositionStore(), transport, topic: 'crm.changes', logger: silentLogger() });
    await catchUp.request(['ann@contoso.test']);
    const published = (await transport.browse('crm.changes', 100)).map((m) => parseEnvelope(m.value));
    const contacts = published.filter((e) => e.type === 'contact').map((e) => `${e.op} ${e.subject}`).sort();
    assert.deepEqual(contacts, [`c ${made}`, `d ${gone}`, `u ${edited}`].sort(), 'the contacts: edited, made, deleted; the kept one and the sync\'s own not again');
    assert.ok(!published.some((e) => e.subject === kept || e.subject === bySync.ref));
    assert.equal(published.find((e) => e.subject === edited)?.after?.contact?.surname, 'Edited again');
    assert.deepEqual(published.filter((e) => e.type === 'appointment').map((e) => `${e.op} ${e.after?.subject}`), ['c Lunch'], 'the appointment made meanwhile; the visit unchanged');
  } finally {
    await db.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await db.close();
    await log.close();
  }
});
