// Contacts ↔ persons and selections → contact folders, both directions wired as the service
// wires them (stream source → log → handlers; CRM change feed → log → handlers), against the
// EWS sandbox and the reference CRM on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CrmRef } from '../../../src/crm-adapter/index.js';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import type { ContactCard } from '../../../src/shared/contact-card.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { startTwoWayRig, type TwoWayRig } from '../../helpers/two-way-rig.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('contacts and selections, reference CRM', () => {
  let rig: TwoWayRig;
  let client: EwsClient;
  let s: string;
  let first: string;
  let second: string;

  before(async () => {
    rig = await startTwoWayRig({ mailboxes: 2, seed: 16, contacts: true });
    s = rig.crmSchema;
    first = rig.sandbox.store.byIndex(1)!.address;
    second = rig.sandbox.store.byIndex(2)!.address;
    client = new EwsClient({
      settings: { url: rig.sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 },
      gate: new BackoffGate(), maxSockets: 4,
    });
  });
  after(async () => {
    await client?.close();
    await rig?.close();
  });

  const associateOf = async (mailbox: string): Promise<number> => (await rig.db.query<{ associate_id: number }>(`select associate_id from ${s}.associate where email = $1`, [mailbox])).rows[0].associate_id;
  const quiet = async (): Promise<void> => {
    await settle(400);
    await waitUntil(() => rig.drained(), 20_000, 'quiet');
  };
  /** The contacts of a folder of a mailbox, read as the sync reads them. */
  const contactsIn = async (mailbox: string, folderName = 'Contacts'): Promise<Map<string, ContactCard & { crmId?: string; itemId: string }>> => {
    const m = rig.sandbox.store.byEmail(mailbox)!;
    const folder = [...m.folders.values()].find((f) => f.displayName === folderName);
    if (!folder) return new Map();
    const ids = rig.sandbox.store.itemsIn(m, folder.key).map((i) => rig.sandbox.store.folderIdOf(m, folder.key) && Buffer.from(`AAMkI:${m.index}:${i.seq}`).toString('base64'));
    const items = ids.length ? await client.getItems(mailbox, 'contacts', ids) : [];
    return new Map(items.map((f) => [f.item!.contact!.surname ?? f.item!.contact!.emails[0], { ...f.item!.contact!, crmId: f.item!.crmId, itemId: f.itemId }]));
  };
  const parked = async (topic: 'exchange.changes.dlq' | 'crm.changes.dlq'): Promise<Array<{ code: string; message: string }>> =>
    (await rig.transport.browse(topic, 100)).map((m) => ({ code: m.headers['ecs-error-code'] ?? '', message: m.headers['ecs-error-message'] ?? '' }));

  it('a person the user owns becomes a contact with every part; a CRM edit follows; nothing echoes back', async () => {
    const owner = await associateOf(first);
    const acme = (await rig.db.query<{ contact_id: number }>(`insert into ${s}.contact (name) values ('Acme Corp') returning contact_id`)).rows[0].contact_id;
    const { rows } = await rig.db.query<{ person_id: number }>(
      `insert into ${s}.person (contact_id, associate_id, firstname, lastname, email, email2, phone, mobile, title, street, city, zip, country, notes)
       values ($1, $2, 'Ada', 'Lovelace', 'ada@acme.example', 'ada@home.example', '+44 20 7946 0001', '+44 7700 900001', 'Analyst', '1 Engine St', 'London', 'N1', 'UK', 'Prefers mornings')
       returning person_id`, [acme, owner]);
    const ref: CrmRef = `person:${rows[0].person_id}`;
    await waitUntil(async () => (await contactsIn(first)).has('Lovelace'), 20_000, 'the contact in Outlook');
    const card = (await contactsIn(first)).get('Lovelace')!;
    assert.equal(card.crmId, ref, 'stamped with the person');
    assert.deepEqual({ ...card, crmId: undefined, itemId: undefined }, {
      givenName: 'Ada', surname: 'Lovelace', company: 'Acme Corp', jobTitle: 'Analyst', emails: ['ada@acme.example', 'ada@home.example'],
      phones: { business: '+44 20 7946 0001', mobile: '+44 7700 900001' }, address: { street: '1 Engine St', city: 'London', postalCode: 'N1', country: 'UK' },
      crmId: undefined, itemId: undefined,
    });
    await quiet();
    const versionBefore = (await rig.crm.person(ref))!.version;
    await rig.db.query(`update ${s}.person set mobile = null, title = 'Lead analyst' where person_id = $1`, [rows[0].person_id]);
    await waitUntil(async () => (await contactsIn(first)).get('Lovelace')?.jobTitle === 'Lead analyst', 20_000, 'the CRM edit in Outlook');
    assert.deepEqual((await contactsIn(first)).get('Lovelace')!.phones, { business: '+44 20 7946 0001' }, 'the cleared mobile number is cleared');
    await quiet();
    assert.equal(Number((await rig.crm.person(ref))!.version), Number(versionBefore) + 1, 'only the user\'s edit changed the person: the sync\'s write to Exchange did not come back');
  });

  it('a contact made in Outlook becomes a person of that user at the company of that name; an edit and a delete follow', async () => {
    const service = ewsService(rig.sandbox.url, second);
    const contact = new ews.Contact(service);
    contact.GivenName = 'Grace';
    contact.Surname = 'Hopper';
    contact.CompanyName = 'Navy Labs';
    contact.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress1, new ews.EmailAddress('grace@navy.example'));
    contact.PhoneNumbers._setItem(ews.PhoneNumberKey.BusinessPhone, '555-0100');
    await contact.Save(ews.WellKnownFolderName.Contacts);
    const find = async (): Promise<{ person_id: number; associate_id: number; company: string; title: string | null; phone: string } | undefined> =>
      (await rig.db.query<{ person_id: number; associate_id: number; company: string; title: string | null; phone: string }>(
        `select p.person_id, p.associate_id, c.name as company, p.title, p.phone from ${s}.person p left join ${s}.contact c using (contact_id) where p.lastname = 'Hopper'`)).rows[0];
    await waitUntil(async () => !!(await find()), 20_000, 'the person in the CRM');
    const person = (await find())!;
    assert.equal(person.associate_id, await associateOf(second), 'owned by the mailbox\'s associate');
    assert.equal(person.company, 'Navy Labs', 'a company of that name was made');
    assert.equal(person.phone, '555-0100');
    await quiet();
    const edit = await ews.Contact.Bind(service, contact.Id);
    edit.JobTitle = 'Rear Admiral';
    await edit.Update(ews.ConflictResolutionMode.AlwaysOverwrite);
    await waitUntil(async () => (await find())?.title === 'Rear Admiral', 20_000, 'the Outlook edit in the CRM');
    assert.equal((await rig.db.query(`select 1 from ${s}.person where lastname = 'Hopper'`)).rowCount, 1, 'one person, not two');
    await quiet();
    await service.DeleteItems([contact.Id], ews.DeleteMode.MoveToDeletedItems, null as never, null as never);
    await waitUntil(async () => !(await find()), 20_000, 'the person deleted');
  });

  it('a contact with neither name nor e-mail, or with an e-mail that is not an address, is parked with the reason; the next one flows', async () => {
    const service = ewsService(rig.sandbox.url, second);
    const nameless = new ews.Contact(service);
    nameless.CompanyName = 'Nobody Inc';
    await nameless.Save(ews.WellKnownFolderName.Contacts);
    const bad = new ews.Contact(service);
    bad.GivenName = 'Bad';
    bad.Surname = 'Address';
    bad.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress1, new ews.EmailAddress('not an address'));
    await bad.Save(ews.WellKnownFolderName.Contacts);
    const good = new ews.Contact(service);
    good.GivenName = 'Katherine';
    good.Surname = 'Johnson';
    await good.Save(ews.WellKnownFolderName.Contacts);
    await waitUntil(async () => (await rig.db.query(`select 1 from ${s}.person where lastname = 'Johnson'`)).rowCount === 1, 20_000, 'the good contact in the CRM');
    await waitUntil(async () => (await parked('exchange.changes.dlq')).length >= 2, 20_000, 'two contacts parked');
    const reasons = (await parked('exchange.changes.dlq')).map((p) => p.message).join('\n');
    assert.match(reasons, /needs a name or an e-mail address/);
    assert.match(reasons, /"not an address" is not an e-mail address/);
    assert.equal((await rig.db.query(`select 1 from ${s}.person where lastname = 'Address' or firstname is null and lastname is null`)).rowCount, 0);
  });

  it('a selection of persons becomes a contact folder for its subscriber: members added and removed, renamed, a member edited, unsubscribed, deleted', async () => {
    const owner = await associateOf(first);
    const people: number[] = [];
    for (const [given, sur] of [['Alan', 'Turing'], ['Edsger', 'Dijkstra'], ['Barbara', 'Liskov'], ['Donald', 'Knuth']]) {
      people.push((await rig.db.query<{ person_id: number }>(`insert into ${s}.person (firstname, lastname, email) values ($1, $2, $3) returning person_id`, [given, sur, `${sur.toLowerCase()}@cs.example`])).rows[0].person_id);
    }
    const id = (await rig.db.query<{ selection_id: number }>(`insert into ${s}.selection (name, associate_id) values ('Key accounts', $1) returning selection_id`, [owner])).rows[0].selection_id;
    for (const p of people.slice(0, 3)) await rig.db.query(`insert into ${s}.selection_member values ($1, $2)`, [id, p]);
    await rig.db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [id, owner]);
    const names = async (folder: string): Promise<string[]> => [...(await contactsIn(first, folder)).keys()].sort();
    await waitUntil(async () => (await names('Key accounts')).length === 3, 20_000, 'the selection folder with 3 contacts');
    assert.deepEqual(await names('Key accounts'), ['Dijkstra', 'Liskov', 'Turing']);
    const turing = (await contactsIn(first, 'Key accounts')).get('Turing')!;
    assert.equal(turing.crmId, `person:${people[0]}`);

    await rig.db.query(`insert into ${s}.selection_member values ($1, $2)`, [id, people[3]]);
    await rig.db.query(`delete from ${s}.selection_member where selection_id = $1 and person_id = $2`, [id, people[1]]);
    await waitUntil(async () => (await names('Key accounts')).join() === 'Knuth,Liskov,Turing', 20_000, 'Knuth in, Dijkstra out');
    await rig.db.query(`update ${s}.person set title = 'Professor' where person_id = $1`, [people[0]]);
    await waitUntil(async () => (await contactsIn(first, 'Key accounts')).get('Turing')?.jobTitle === 'Professor', 20_000, 'the member\'s edit in the copy');
    await rig.db.query(`update ${s}.selection set name = 'Key accounts 2027' where selection_id = $1`, [id]);
    await waitUntil(async () => (await names('Key accounts 2027')).length === 3, 20_000, 'the folder renamed');
    assert.deepEqual(await names('Key accounts'), [], 'no folder of the old name');

    await quiet();
    const creates = rig.sandbox.stats.requestsByOperation.get('CreateItem') ?? 0;
    await rig.db.query(`update ${s}.selection set name = name where selection_id = $1`, [id]); // a change that changes nothing
    await quiet();
    assert.equal(rig.sandbox.stats.requestsByOperation.get('CreateItem') ?? 0, creates, 'a repeat creates nothing');

    await rig.db.query(`delete from ${s}.selection_subscriber where selection_id = $1`, [id]);
    await waitUntil(async () => !(await contactsIn(first, 'Key accounts 2027')).size && ![...rig.sandbox.store.byEmail(first)!.folders.values()].some((f) => f.displayName === 'Key accounts 2027'), 20_000, 'the folder removed on unsubscribe');
    await rig.db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [id, owner]);
    await waitUntil(async () => (await names('Key accounts 2027')).length === 3, 20_000, 'the folder back on subscribe');
    await rig.db.query(`delete from ${s}.selection where selection_id = $1`, [id]);
    await waitUntil(async () => ![...rig.sandbox.store.byEmail(first)!.folders.values()].some((f) => f.displayName === 'Key accounts 2027'), 20_000, 'the folder deleted with the selection');
    assert.equal((await rig.selections.foldersOf(`selection:${id}`)).length, 0);
  });

  it('a selection of companies, and a member that cannot be a contact, are parked with the reason; the other members are written', async () => {
    const owner = await associateOf(second);
    const companies = (await rig.db.query<{ selection_id: number }>(`insert into ${s}.selection (name, associate_id, target) values ('All companies', $1, 'contact') returning selection_id`, [owner])).rows[0].selection_id;
    await rig.db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [companies, owner]);
    const mixed = (await rig.db.query<{ selection_id: number }>(`insert into ${s}.selection (name, associate_id) values ('Mixed', $1) returning selection_id`, [owner])).rows[0].selection_id;
    const good = (await rig.db.query<{ person_id: number }>(`insert into ${s}.person (firstname, lastname) values ('Margaret', 'Hamilton') returning person_id`)).rows[0].person_id;
    const blank = (await rig.db.query<{ person_id: number }>(`insert into ${s}.person (phone) values ('555-0199') returning person_id`)).rows[0].person_id;
    await rig.db.query(`insert into ${s}.selection_member values ($1, $2), ($1, $3)`, [mixed, good, blank]);
    await rig.db.query(`insert into ${s}.selection_subscriber values ($1, $2)`, [mixed, owner]);
    await waitUntil(async () => (await contactsIn(second, 'Mixed')).has('Hamilton'), 20_000, 'the good member written');
    await waitUntil(async () => (await parked('crm.changes.dlq')).length >= 2, 20_000, 'both parked');
    const reasons = (await parked('crm.changes.dlq')).map((p) => p.message).join('\n');
    assert.match(reasons, /"All companies" lists contact records, not persons/);
    assert.match(reasons, new RegExp(`person:${blank}: a contact needs a name or an e-mail address`));
    assert.ok(![...rig.sandbox.store.byEmail(second)!.folders.values()].some((f) => f.displayName === 'All companies'));
  });
});
