// Contacts ↔ persons and selections → contact folders, both directions wired as the service
// wires them (stream source → log → handlers; CRM change feed → log → handlers), against the
// sandbox and each CRM: the reference CRM on PostgreSQL, SuperOffice's Web API on its
// simulator; the reference CRM over Microsoft Graph too (the test's own hands stay on EWS).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import type { ContactCard } from '../../../src/shared/contact-card.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { referencePeople, superOfficePeople, type PeopleHands } from '../../helpers/people-hands.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { swaggerMissing } from '../../helpers/superoffice.js';
import { startTwoWayRig, VARIANTS, type TwoWayRig } from '../../helpers/two-way-rig.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const { crm: crmKind, exchange: exchangeKind } of VARIANTS) describe(`contacts and selections (${crmKind === 'reference' ? 'reference CRM' : 'SuperOffice'}${exchangeKind === 'EwsStream' ? '' : `, ${exchangeKind}`})`, () => {
  let rig: TwoWayRig;
  let client: EwsClient;
  let hands: PeopleHands;
  let first: string;
  let second: string;

  before(async () => {
    rig = await startTwoWayRig({ mailboxes: 2, seed: 16, contacts: true, crm: crmKind, exchange: exchangeKind });
    hands = crmKind === 'reference' ? referencePeople(rig.db, rig.crmSchema) : superOfficePeople(rig.superoffice!);
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

  const quiet = async (): Promise<void> => {
    await settle(crmKind === 'superoffice' ? 1_500 : 400);
    await waitUntil(() => rig.drained(), 20_000, 'quiet');
  };
  /** The contacts of a folder of a mailbox, read as the sync reads them. */
  const contactsIn = async (mailbox: string, folderName = 'Contacts'): Promise<Map<string, ContactCard & { crmId?: string; itemId: string }>> => {
    const m = rig.sandbox.store.byEmail(mailbox)!;
    const folder = [...m.folders.values()].find((f) => f.displayName === folderName);
    if (!folder) return new Map();
    const ids = rig.sandbox.store.itemsIn(m, folder.key).map((i) => itemIdOf(m.index, i.seq));
    const items = ids.length ? await client.getItems(mailbox, 'contacts', ids) : [];
    // an item the sync deleted between the listing and the read is gone: not a contact of the folder
    return new Map(items.filter((f) => f.item?.contact).map((f) => [f.item!.contact!.surname ?? f.item!.contact!.emails[0], { ...f.item!.contact!, crmId: f.item!.crmId, itemId: f.itemId }]));
  };
  const folderExists = (mailbox: string, name: string): boolean => [...rig.sandbox.store.byEmail(mailbox)!.folders.values()].some((f) => f.displayName === name);
  const parked = async (topic: 'exchange.changes.dlq' | 'crm.changes.dlq'): Promise<Array<{ code: string; message: string }>> =>
    (await rig.transport.browse(topic, 100)).map((m) => ({ code: m.headers['ecs-error-code'] ?? '', message: m.headers['ecs-error-message'] ?? '' }));

  it('a person the user owns becomes a contact with every part; a CRM edit follows; nothing echoes back', async () => {
    const ref = await hands.createPerson(first, {
      first: 'Ada', last: 'Lovelace', company: 'Acme Corp', email: 'ada@acme.example', email2: 'ada@home.example', phone: '+44 20 7946 0001', mobile: '+44 7700 900001',
      title: 'Analyst', street: '1 Engine St', city: 'London', zip: 'N1',
    });
    await waitUntil(async () => (await contactsIn(first)).has('Lovelace'), 20_000, 'the contact in Outlook');
    const card = (await contactsIn(first)).get('Lovelace')!;
    assert.equal(card.crmId, ref, 'stamped with the person');
    assert.deepEqual({ ...card, crmId: undefined, itemId: undefined }, {
      givenName: 'Ada', surname: 'Lovelace', company: 'Acme Corp', jobTitle: 'Analyst', emails: ['ada@acme.example', 'ada@home.example'],
      phones: { business: '+44 20 7946 0001', mobile: '+44 7700 900001' }, address: { street: '1 Engine St', city: 'London', postalCode: 'N1' },
      crmId: undefined, itemId: undefined,
    });
    await quiet();
    const versionBefore = (await rig.crm.person(ref))!.version;
    await hands.updatePerson(ref, { title: 'Lead analyst', mobile: null });
    await waitUntil(async () => (await contactsIn(first)).get('Lovelace')?.jobTitle === 'Lead analyst', 20_000, 'the CRM edit in Outlook');
    assert.deepEqual((await contactsIn(first)).get('Lovelace')!.phones, { business: '+44 20 7946 0001' }, 'the cleared mobile number is cleared');
    const versionEdited = (await rig.crm.person(ref))!.version;
    assert.ok(rig.crm.compareVersions(versionEdited, versionBefore) > 0);
    await quiet();
    assert.equal((await rig.crm.person(ref))!.version, versionEdited, 'only the user\'s edit changed the person: the sync\'s write to Exchange did not come back');
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
    await waitUntil(async () => !!(await hands.findPerson('Hopper')), 20_000, 'the person in the CRM');
    const person = (await hands.findPerson('Hopper'))!;
    assert.equal(person.ownerEmail, second, 'owned by the mailbox\'s associate');
    assert.equal(person.company, 'Navy Labs', 'a company of that name was made');
    assert.equal(person.phone, '555-0100');
    await quiet();
    const edit = await ews.Contact.Bind(service, contact.Id);
    edit.JobTitle = 'Rear Admiral';
    await edit.Update(ews.ConflictResolutionMode.AlwaysOverwrite);
    await waitUntil(async () => (await hands.findPerson('Hopper'))?.title === 'Rear Admiral', 20_000, 'the Outlook edit in the CRM');
    assert.equal((await hands.findPerson('Hopper'))!.ref, person.ref, 'one person, not two');
    await quiet();
    await service.DeleteItems([contact.Id], ews.DeleteMode.MoveToDeletedItems, null as never, null as never);
    await waitUntil(async () => !(await hands.findPerson('Hopper')), 20_000, 'the person deleted');
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
    await waitUntil(async () => !!(await hands.findPerson('Johnson')), 20_000, 'the good contact in the CRM');
    await waitUntil(async () => (await parked('exchange.changes.dlq')).length >= 2, 20_000, 'two contacts parked');
    const reasons = (await parked('exchange.changes.dlq')).map((p) => p.message).join('\n');
    assert.match(reasons, /needs a name or an e-mail address/);
    assert.match(reasons, /"not an address" is not an e-mail address/);
    assert.equal(await hands.findPerson('Address'), undefined);
  });

  it('a selection of persons becomes a contact folder for its subscriber: members added and removed, renamed, a member edited, unsubscribed, deleted', async () => {
    const people = [];
    for (const [given, sur] of [['Alan', 'Turing'], ['Edsger', 'Dijkstra'], ['Barbara', 'Liskov'], ['Donald', 'Knuth']]) {
      people.push(await hands.createPerson(null, { first: given, last: sur, email: `${sur.toLowerCase()}@cs.example` }));
    }
    const selection = await hands.createSelection('Key accounts', first, people.slice(0, 3));
    const names = async (folder: string): Promise<string[]> => [...(await contactsIn(first, folder)).keys()].sort();
    await waitUntil(async () => (await names('Key accounts')).length === 3, 20_000, 'the selection folder with 3 contacts');
    assert.deepEqual(await names('Key accounts'), ['Dijkstra', 'Liskov', 'Turing']);
    assert.equal((await contactsIn(first, 'Key accounts')).get('Turing')!.crmId, people[0]);

    await hands.addMembers(selection, [people[3]]);
    await hands.removeMembers(selection, [people[1]]);
    await waitUntil(async () => (await names('Key accounts')).join() === 'Knuth,Liskov,Turing', 20_000, 'Knuth in, Dijkstra out');
    await hands.updatePerson(people[0], { title: 'Professor' });
    await waitUntil(async () => (await contactsIn(first, 'Key accounts')).get('Turing')?.jobTitle === 'Professor', 20_000, 'the member\'s edit in the copy');
    await hands.rename(selection, 'Key accounts 2027');
    await waitUntil(async () => (await names('Key accounts 2027')).length === 3, 20_000, 'the folder renamed');
    assert.equal(folderExists(first, 'Key accounts'), false, 'no folder of the old name');

    await quiet();
    const creates = rig.sandbox.stats.requestsByOperation.get('CreateItem') ?? 0;
    await hands.rename(selection, 'Key accounts 2027'); // a change that changes nothing
    await quiet();
    assert.equal(rig.sandbox.stats.requestsByOperation.get('CreateItem') ?? 0, creates, 'a repeat creates nothing');

    if (hands.unsubscribe && hands.subscribe) {
      await hands.unsubscribe(selection, first);
      await waitUntil(async () => !folderExists(first, 'Key accounts 2027'), 20_000, 'the folder removed on unsubscribe');
      await hands.subscribe(selection, first);
      await waitUntil(async () => (await names('Key accounts 2027')).length === 3, 20_000, 'the folder back on subscribe');
    }
    await hands.deleteSelection(selection);
    // the folder goes first, then the sync's record of it (a moment later): both, before asserting
    await waitUntil(async () => !folderExists(first, 'Key accounts 2027') && (await rig.selections.foldersOf(selection)).length === 0, 20_000, 'the folder and its record deleted with the selection');
    assert.equal(folderExists(first, 'Key accounts 2027'), false);
    assert.equal((await rig.selections.foldersOf(selection)).length, 0);
  });

  it('a selection of companies, and a member that cannot be a contact, are parked with the reason; the other members are written', async () => {
    const companies = await hands.createSelection('All companies', second, [], { persons: false });
    const good = await hands.createPerson(null, { first: 'Margaret', last: 'Hamilton' });
    const blank = await hands.createPerson(null, { phone: '555-0199' });
    await hands.createSelection('Mixed', second, [good, blank]);
    await waitUntil(async () => (await contactsIn(second, 'Mixed')).has('Hamilton'), 20_000, 'the good member written');
    // a selection may be parked more than once (each of its changes is): wait for both reasons, not a count
    const both = async (): Promise<boolean> => {
      const text = (await parked('crm.changes.dlq')).map((p) => p.message).join('\n');
      return text.includes(`${companies} "All companies"`) && text.includes(`${blank}: a contact needs`);
    };
    await waitUntil(both, 20_000, 'both parked');
    const reasons = (await parked('crm.changes.dlq')).map((p) => p.message).join('\n');
    assert.match(reasons, new RegExp(`${companies} "All companies" lists \\w+ records, not persons`));
    assert.match(reasons, new RegExp(`${blank}: a contact needs a name or an e-mail address`));
    assert.equal(folderExists(second, 'All companies'), false);
  });

  if (crmKind === 'superoffice') {
    it('every request the sync made to SuperOffice and every answer follow its Swagger definitions', { skip: swaggerMissing }, () => {
      assert.deepEqual(rig.superoffice!.validator?.problems ?? ['no validator'], []);
    });
  }
});
