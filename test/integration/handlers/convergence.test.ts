// Convergence: seeded random creates, edits, deletes and recurrence exceptions (and contacts,
// persons and selection members) on both sides at once — users in Outlook (EWS, impersonated) and in the CRM (SQL on the reference CRM, the
// Web API as each user on SuperOffice's simulator) — over dozens of mailboxes, with the
// service (a child process, real Kafka, PostgreSQL) SIGKILLed halfway and started again — over
// EWS (EwsStream) with both CRMs, and over Microsoft Graph (GraphNotify: the sandbox's Graph
// endpoint on the same mailboxes, appointments and series) with the reference CRM. At quiescence the CRM and the mailboxes agree item by item: one row
// per item with the same subject and times, no duplicates, no delete lost, a series'
// modified occurrences as its exception rows, and a bounded number of messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { checkAgreement, fetchInventory, referenceRecords } from '../../../bench/lib/agreement.js';
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates, SuperOfficeCrm, SuperOfficeHttp, type CrmPort, type CrmRef } from '../../../src/crm-adapter/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import type { SuperOfficeSandbox } from '../../../src/superoffice-sandbox/index.js';
import type { CrmUser } from '../../helpers/crm-port-contract.js';
import { referenceCrmUser } from '../../helpers/reference-crm-user.js';
import { referencePeople, superOfficePeople, type PeopleHands } from '../../helpers/people-hands.js';
import { startCheckedSuperOffice } from '../../helpers/superoffice.js';
import { superOfficeCrmUser } from '../../helpers/superoffice-crm-user.js';
import type { CrmKind } from '../../helpers/two-way-rig.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { changeKeyOf, itemIdOf } from '../../../src/sandbox/ids.js';
import { graphIdOf, restIdOf } from '../../../src/sandbox/graph/graph-ids.js';
import { expandOccurrences } from '../../../src/sandbox/recurrence.js';
import { prng } from '../../../src/sandbox/prng.js';
import { PgDatabase } from '../../../src/state/index.js';
import { ews, ewsService } from '../../helpers/ews.js';
import { kafkaBrokers, postgresUrl, uniqueName } from '../../helpers/services.js';
import { startServiceProcess, writeConfig, writeRealPartsConfig, type ServiceProcess } from '../../helpers/service-process.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../../helpers/source-harness.js';

const MAILBOXES = 24;
const OPERATIONS = 300;
/** The users' seed; ECS_CONVERGENCE_SEED replays another run (a failure prints its seed). */
const SEED = Number(process.env.ECS_CONVERGENCE_SEED ?? 77);
const DAY = 86_400_000;
/** The mixed policy's excluded category, and what a blocker is called. */
const EXCLUDED = 'Personal';
const BLOCKER_TITLE = 'Private';

/** The reference CRM over EWS runs with a mixed policy: some mailboxes to-crm, a category excluded, private items as blockers. */
interface MixedPolicy {
  readonly toCrm: ReadonlySet<string>;
}

/** An item the policy keeps from the CRM (in the excluded category), and one the CRM holds as a blocker (private). */
function categoriesOf(item: { props: Record<string, unknown> }): string[] {
  const c = item.props.Categories as { children?: Array<{ text: string }> } | undefined;
  return (c?.children ?? []).map((x) => x.text.trim());
}
const isExcluded = (item: { props: Record<string, unknown> }): boolean => categoriesOf(item).some((c) => c.toLowerCase() === EXCLUDED.toLowerCase());
const isPrivate = (item: { props: Record<string, unknown> }): boolean => item.props.Sensitivity === 'Private';

interface Tally {
  exchange: Record<string, number>;
  crm: Record<string, number>;
  failed: number;
}

/** The users of both sides, acting at random (seeded). */
class Users {
  private readonly random: () => number;
  private n = 0;
  readonly tally: Tally = { exchange: {}, crm: {}, failed: 0 };
  readonly deletedRows = new Set<string>();
  readonly deletedItems = new Set<string>();

  /**
   * `occurrences`: what a CRM user edits as one occurrence of a series (exception rows; SuperOffice: a series' rows).
   * `people`: the CRM's persons and its selection, when contacts are synced.
   */
  constructor(private readonly sandbox: Sandbox, private readonly crmUser: CrmUser, private readonly occurrences: () => Promise<CrmRef[]>, seed: number, private readonly people?: People, private readonly policy?: MixedPolicy) {
    this.random = prng(seed);
  }

  /** Mailboxes the CRM's users act for (under a mixed policy, not the to-crm ones: their CRM edits stay in the CRM by design). */
  private crmOwners(): string[] {
    return this.sandbox.store.all().slice(1).map((m) => m.address).filter((a) => !this.policy?.toCrm.has(a));
  }

  private pick<T>(list: readonly T[]): T | undefined {
    return list.length ? list[Math.floor(this.random() * list.length)] : undefined;
  }

  private when(): { start: number; end: number } {
    const start = Date.parse('2026-12-01T07:00:00Z') + Math.floor(this.random() * 40) * DAY + Math.floor(this.random() * 10) * 3_600_000;
    return { start, end: start + 3_600_000 };
  }

  async act(): Promise<void> {
    if (this.people && this.random() < 0.25) return this.actOnContacts(this.people);
    const side = this.random() < 0.5 ? 'exchange' : 'crm';
    const r = this.random();
    const kind = r < 0.35 ? 'create' : r < 0.75 ? 'edit' : r < 0.9 ? 'delete' : 'occurrence';
    try {
      const done = side === 'exchange' ? await this.inExchange(kind) : await this.inCrm(kind);
      if (done) (this.tally[side][done] = (this.tally[side][done] ?? 0) + 1);
    } catch {
      this.tally.failed++; // e.g. an item deleted by the sync a moment before: a user would see the same
    }
  }

  /** Contacts in Outlook, persons and the selection's members in the CRM. */
  private async actOnContacts(people: People): Promise<void> {
    const side = this.random() < 0.4 ? 'exchange' : 'crm';
    const r = this.random();
    const kind = r < 0.4 ? 'create' : r < 0.8 ? 'edit' : 'delete';
    const n = ++this.n;
    const owners = this.sandbox.store.all().slice(1);
    const crmOwners = this.crmOwners();
    let done: string | undefined;
    try {
      if (side === 'exchange') {
        const mailbox = this.pick(owners)!;
        const service = ewsService(this.sandbox.url, mailbox.address);
        const target = this.pick(this.sandbox.store.itemsIn(mailbox, 'contacts'));
        if (kind === 'create' || !target) {
          const contact = new ews.Contact(service);
          contact.GivenName = `G${n}`;
          contact.Surname = `S${n}`;
          contact.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress1, new ews.EmailAddress(`s${n}@example.com`));
          await contact.Save(ews.WellKnownFolderName.Contacts);
          done = 'create-contact';
        } else if (kind === 'edit') {
          const contact = await ews.Contact.Bind(service, new ews.ItemId(itemIdOf(mailbox.index, target.seq)));
          contact.JobTitle = `T${n}`;
          await contact.Update(ews.ConflictResolutionMode.AlwaysOverwrite);
          done = 'edit-contact';
        } else {
          await service.DeleteItems([new ews.ItemId(itemIdOf(mailbox.index, target.seq))], ews.DeleteMode.MoveToDeletedItems, null as never, null as never);
          done = 'delete-contact';
        }
      } else if (this.random() < 0.35) {
        // the selection's members
        const members = await people.hands.members(people.selection);
        if (this.random() < 0.45 && members.length) {
          await people.hands.removeMembers(people.selection, [this.pick(members)!]);
          done = 'remove-member';
        } else {
          const person = await people.hands.createPerson(null, { first: `M${n}`, last: `Member${n}`, email: `m${n}@example.com` });
          await people.hands.addMembers(people.selection, [person]);
          done = 'add-member';
        }
      } else {
        const candidates = [...(await people.hands.owned()).filter((p) => p.owner !== people.firstMailbox && crmOwners.includes(p.owner.toLowerCase())).map((p) => p.ref), ...(await people.hands.members(people.selection))];
        const target = this.pick(candidates);
        if (kind === 'create' || target === undefined) {
          await people.hands.createPerson(this.pick(crmOwners)!, { first: `P${n}`, last: `Person${n}`, email: `p${n}@example.com` });
          done = 'create-person';
        } else if (kind === 'edit') {
          await people.hands.updatePerson(target, { title: `T${n}` });
          done = 'edit-person';
        } else {
          await people.hands.deletePerson(target);
          done = 'delete-person';
        }
      }
      if (done) (this.tally[side][done] = (this.tally[side][done] ?? 0) + 1);
    } catch {
      this.tally.failed++;
    }
  }

  private async inExchange(kind: string): Promise<string | undefined> {
    const mailbox = this.pick(this.sandbox.store.all().slice(1))!;
    const service = ewsService(this.sandbox.url, mailbox.address);
    const items = this.sandbox.store.itemsIn(mailbox, 'calendar');
    const n = ++this.n;
    if (kind === 'create' || !items.length) {
      const item = new ews.Appointment(service);
      const { start, end } = this.when();
      item.Subject = `E${n}`;
      item.Start = new ews.DateTime(start);
      item.End = new ews.DateTime(end);
      item.StartTimeZone = ews.TimeZoneInfo.FindSystemTimeZoneById('W. Europe Standard Time');
      if (this.policy) {
        // a tenth private (the CRM gets a blocker), a tenth in the excluded category (no record)
        const p = this.random();
        if (p < 0.1) item.Sensitivity = ews.Sensitivity.Private;
        else if (p < 0.2) item.Categories = new ews.StringList([EXCLUDED]);
      }
      const series = this.random() < 0.2;
      if (series) item.Recurrence = new (ews.Recurrence.DailyPattern as unknown as new (s: ews.DateTime, i: number) => ews.Recurrence)(new ews.DateTime(start - (start % DAY)), 1);
      if (series) item.Recurrence.NumberOfOccurrences = 5;
      await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
      return series ? 'create-series' : 'create';
    }
    const target = this.pick(items)!;
    const itemId = itemIdOf(mailbox.index, target.seq);
    if (kind === 'delete') {
      await service.DeleteItems([new ews.ItemId(itemId)], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      this.deletedItems.add(itemId);
      return 'delete';
    }
    if (kind === 'occurrence') {
      const series = this.pick(items.filter((i) => i.props.Recurrence !== undefined));
      if (!series) return undefined;
      const occurrence = await ews.Appointment.BindToOccurrence(service, new ews.ItemId(itemIdOf(mailbox.index, series.seq)), 2 + Math.floor(this.random() * 3));
      if (this.random() < 0.5) {
        await occurrence.Delete(ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone);
        return 'delete-occurrence';
      }
      occurrence.Start = new ews.DateTime(occurrence.Start.TotalMilliSeconds + 1_800_000);
      occurrence.End = new ews.DateTime(occurrence.End.TotalMilliSeconds + 1_800_000);
      await occurrence.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      return 'move-occurrence';
    }
    const item = await ews.Appointment.Bind(service, new ews.ItemId(itemId));
    // trimmed: the subject read back from Exchange loses trailing blanks (ews-javascript-api trims element text)
    item.Subject = `E${n} (was ${item.Subject})`.slice(0, 60).trimEnd();
    // an item that gains the excluded category leaves the CRM, one that loses it comes back
    if (this.policy && this.random() < 0.2) item.Categories = new ews.StringList(item.Categories?.Count ? [] : [EXCLUDED]);
    await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
    return 'edit';
  }

  private async inCrm(kind: string): Promise<string | undefined> {
    const n = ++this.n;
    const owners = this.crmOwners();
    // the first mailbox is left to neither side's users; a blocker ("Private") is the mailbox's
    // (a CRM user's edit of it is kept from the mailbox by design): they leave those alone
    const records = (await this.crmUser.list()).filter((r) => owners.includes(r.ownerEmail.toLowerCase()) && !(this.policy && r.title === BLOCKER_TITLE));
    const listed = new Set(records.map((r) => r.ref));
    const occurrences = new Set((await this.occurrences()).filter((ref) => !this.policy || listed.has(ref)));
    const mains = records.filter((r) => !occurrences.has(r.ref));
    if (kind === 'create' || !mains.length) {
      const { start, end } = this.when();
      const owner = owners[Math.floor(this.random() * owners.length)];
      if (this.random() < 0.2) {
        await this.crmUser.createSeries(owner, `C${n}`, new Date(start).toISOString(), new Date(end).toISOString(), 'FREQ=WEEKLY;COUNT=4');
        return 'create-series';
      }
      await this.crmUser.createAppointment(owner, `C${n}`, new Date(start).toISOString(), new Date(end).toISOString());
      return 'create';
    }
    if (kind === 'occurrence') {
      const occurrence = this.pick([...occurrences]);
      if (!occurrence) return undefined;
      await this.crmUser.rename(occurrence, `C${n} (exception)`);
      return 'edit-exception';
    }
    const target = this.pick(mains)!;
    if (kind === 'delete') {
      await this.crmUser.delete(target.ref);
      this.deletedRows.add(target.ref);
      return 'delete';
    }
    await this.crmUser.move(target.ref, `C${n} (was ${target.title})`, 1_800_000);
    return 'edit';
  }
}

/**
 * Items whose CRM record disagrees in subject or times (read through the CRM's port, as the
 * sync sees it). `titleHeld`: false for a series whose own title the CRM cannot hold.
 */
async function contentMismatches(sandbox: Sandbox, db: PgDatabase, crm: CrmPort, state: string, titleHeld: (crmId: string, subject: unknown) => boolean, idOf: (mailbox: number, seq: number) => string, blockers = false): Promise<string[]> {
  const { rows } = await db.query<{ mailbox: string; item_id: string; crm_id: string }>(`select mailbox, item_id, crm_id from ${state}.item_map where not deleted and position('@' in item_id) = 0`);
  const bad: string[] = [];
  for (const r of rows) {
    const mailbox = sandbox.store.byEmail(r.mailbox)!;
    const item = sandbox.store.itemsIn(mailbox, 'calendar').find((i) => idOf(mailbox.index, i.seq) === r.item_id);
    const record = item ? await crm.get(r.crm_id) : undefined;
    if (!item || !record) continue; // counted by checkAgreement
    const { subject, start, end } = record.fields;
    // private="busy": the record is the item's blocker, its title "Private"
    const expected = blockers && isPrivate(item) ? BLOCKER_TITLE : item.props.Subject;
    if ((expected !== subject && titleHeld(r.crm_id, expected)) || item.props.Start !== start || item.props.End !== end) bad.push(`${r.mailbox} ${r.item_id}: "${String(item.props.Subject)}" ${String(item.props.Start)} vs "${subject}" ${start}`);
  }
  return bad;
}

/** The CRM's persons and the selection the convergence run works on. */
interface People {
  hands: PeopleHands;
  selection: CrmRef;
  /** Neither side's users touch the first mailbox's things. */
  firstMailbox: string;
  subscribers: string[];
}

/** A selection of 10 persons to begin with, subscribed to by its owner (and on the reference CRM a second mailbox). */
async function seedPeople(hands: PeopleHands, sandbox: Sandbox): Promise<People> {
  const [first, a, b] = sandbox.store.all().map((m) => m.address);
  const members: CrmRef[] = [];
  for (let i = 1; i <= 10; i++) members.push(await hands.createPerson(null, { first: 'Seed', last: `Member${i}`, email: `seed${i}@example.com` }));
  const selection = await hands.createSelection('Convergence selection', a, members);
  if (hands.subscribe) await hands.subscribe(selection, b);
  return { hands, selection, firstMailbox: first, subscribers: hands.subscribe ? [a, b] : [a] };
}

/**
 * Where contacts and persons disagree: every person owned by a mailbox's associate is one
 * contact in that Contacts folder (same surname and job title), every contact there is one
 * person; each subscriber's selection folder holds exactly the members, once each.
 */
async function contactMismatches(sandbox: Sandbox, db: PgDatabase, people: People, state: string, idOf: (mailbox: number, seq: number) => string): Promise<string[]> {
  const bad: string[] = [];
  const persons = await people.hands.owned();
  const { rows: maps } = await db.query<{ mailbox: string; item_id: string; crm_id: string }>(`select mailbox, item_id, crm_id from ${state}.item_map where not deleted and folder = 'contacts'`);
  const byItem = new Map(maps.map((m) => [`${m.mailbox} ${m.item_id}`, m.crm_id]));
  const seen = new Map<string, number>();
  const personByRef = new Map(persons.map((p) => [p.ref, p]));
  for (const m of sandbox.store.all()) {
    for (const item of sandbox.store.itemsIn(m, 'contacts')) {
      const crmId = byItem.get(`${m.address} ${idOf(m.index, item.seq)}`);
      const person = crmId ? personByRef.get(crmId) : undefined;
      if (!crmId || !person) {
        bad.push(`${m.address}: contact ${String(item.props.Surname)} has no person`);
        continue;
      }
      seen.set(crmId, (seen.get(crmId) ?? 0) + 1);
      if (person.owner.toLowerCase() !== m.address) bad.push(`${crmId} is owned by ${person.owner}, its contact is in ${m.address}`);
      if (person.lastname !== item.props.Surname || (person.title ?? undefined) !== (item.props.JobTitle ?? undefined)) bad.push(`${crmId}: "${person.lastname}/${person.title}" vs "${String(item.props.Surname)}/${String(item.props.JobTitle)}"`);
    }
  }
  for (const p of persons) if ((seen.get(p.ref) ?? 0) !== 1) bad.push(`${p.ref} (${p.owner}) has ${seen.get(p.ref) ?? 0} contacts`);
  const members = new Set(await people.hands.members(people.selection));
  for (const address of people.subscribers) {
    const m = sandbox.store.byEmail(address)!;
    const folder = [...m.folders.values()].find((f) => f.displayName === 'Convergence selection');
    const stamps = folder ? sandbox.store.itemsIn(m, folder.key).map((i) => String([...i.extended.values()][0]?.value ?? '')) : [];
    if (stamps.length !== members.size || stamps.some((x) => !members.has(x))) bad.push(`${address}: the selection folder has ${stamps.length} contacts, the selection ${members.size} members`);
  }
  return bad;
}

/**
 * The service's configuration for each CRM, and what the test reads the CRM with. Its users
 * delete a tenth of everything within seconds: the delete breaker (tested on its own) is off.
 */
async function crmUnderTest(crmKind: CrmKind, o: { sandbox: Sandbox; db: PgDatabase; crmSchema: string; stateSchema: string; prefix: string; advise: Advise; policy?: MixedPolicy }): Promise<{
  file: string; user: CrmUser; port: CrmPort; records: () => Promise<string[]>; occurrences: () => Promise<CrmRef[]>; env: Record<string, string>; superoffice?: SuperOfficeSandbox; close(): void;
  /** Reference CRM: its persons and selection (contacts and selections are synced). */
  people?: People;
  /** SuperOffice: a series' rows as "<start> <title>" (it keeps no title of the series itself). */
  seriesRows?: (crmId: string) => string[];
}> {
  const common = { ewsUrl: o.sandbox.url, serviceAccount: o.sandbox.serviceAccount, postgresUrl: postgresUrl(), crmSchema: o.crmSchema, stateSchema: o.stateSchema, brokers: kafkaBrokers(), topicPrefix: o.prefix, partitions: 4, crmPollInterval: '200ms' };
  if (crmKind === 'reference' && o.advise === 'GraphNotify') {
    // Microsoft Graph: app-only tokens from the sandbox's Entra endpoint, its CA verified, the
    // webhook on loopback; appointments, To Do tasks (polled every 5 s: Graph notifies no To Do
    // change to an app), contacts and selections
    await initReferenceCrm(o.db, o.crmSchema);
    await seedDemoAssociates(o.db, o.crmSchema, o.sandbox.store.all().map((m) => m.address));
    const { file, dir } = writeConfig(`
      <exchange><events><advise Object="GraphNotify"/></events>
        <graph url="${o.sandbox.graph!.url}" authority="${o.sandbox.tokens!.url}" tenant="contoso" clientId="exchange-crm-sync" clientSecretEnv="ECS_TEST_GRAPH_SECRET" caFile="sandbox-ca.pem" safetyPoll="10m" pollInterval="5s"/>
        <mailboxes source="crm" refresh="10s"/></exchange>
      <crm type="postgres" url="${postgresUrl()}" schema="${o.crmSchema}" stateSchema="${o.stateSchema}" pollInterval="200ms"/>
      <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${o.prefix}" partitions="4"/>
      <sync conflict="last-writer-wins" items="appointments,tasks,contacts" deleteBreaker="0"/>
      <ops listen="127.0.0.1:0"/>`);
    writeFileSync(join(dir, 'sandbox-ca.pem'), o.sandbox.tokens!.ca);
    const people = await seedPeople(referencePeople(o.db, o.crmSchema), o.sandbox);
    const exceptionRows = async (): Promise<CrmRef[]> => (await o.db.query<{ appointment_id: number }>(`select appointment_id from ${o.crmSchema}.appointment where series_id is not null`)).rows.map((r) => `appointment:${r.appointment_id}`);
    return { file, user: referenceCrmUser(o.db, o.crmSchema), port: new ReferenceCrm(o.db, o.crmSchema), records: () => referenceRecords(o.db, o.crmSchema), occurrences: exceptionRows, env: { ECS_TEST_GRAPH_SECRET: GRAPH_SECRET }, close: () => undefined, people };
  }
  if (crmKind === 'reference') {
    await initReferenceCrm(o.db, o.crmSchema);
    await seedDemoAssociates(o.db, o.crmSchema, o.sandbox.store.all().map((m) => m.address));
    // the mixed policy: private items as blockers, a category excluded, and (the CRM's word) some mailboxes to-crm
    const policy = o.policy ? ` private="busy"><categories exclude="${EXCLUDED}"/></sync>` : '/>';
    for (const address of o.policy?.toCrm ?? []) await o.db.query(`update ${o.crmSchema}.associate set sync_direction = 'to-crm' where lower(email) = $1`, [address]);
    const { file } = writeRealPartsConfig({ ...common, extra: `<sync conflict="last-writer-wins" items="appointments,tasks,contacts" deleteBreaker="0"${policy}` });
    const people = await seedPeople(referencePeople(o.db, o.crmSchema), o.sandbox);
    const exceptionRows = async (): Promise<CrmRef[]> => (await o.db.query<{ appointment_id: number }>(`select appointment_id from ${o.crmSchema}.appointment where series_id is not null`)).rows.map((r) => `appointment:${r.appointment_id}`);
    return { file, user: referenceCrmUser(o.db, o.crmSchema), port: new ReferenceCrm(o.db, o.crmSchema), records: () => referenceRecords(o.db, o.crmSchema), occurrences: exceptionRows, env: {}, close: () => undefined, people };
  }
  // SuperOffice's simulator in this process (its users are the sandbox's mailboxes), the service
  // reaching it over HTTP and receiving its webhooks; the state on PostgreSQL
  const superoffice = await startCheckedSuperOffice({ associates: MAILBOXES });
  const { file } = writeConfig(`
    <exchange><events><advise Object="EwsStream"/></events>
      <ews url="${o.sandbox.url}" user="${o.sandbox.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
      <mailboxes source="crm" refresh="10s"/></exchange>
    <crm type="superoffice" url="${superoffice.apiUrl}" user="${superoffice.apiUser.userName}" passwordEnv="ECS_TEST_SO_PASSWORD" webhookListen="127.0.0.1:0"
         stateSchema="${o.stateSchema}" pollInterval="200ms" reconcileInterval="5s"/>
    <state type="postgres" url="${postgresUrl()}"/>
    <transport type="kafka" brokers="${kafkaBrokers().join(',')}" topicPrefix="${o.prefix}" partitions="4"/>
    <sync conflict="last-writer-wins" items="appointments,tasks,contacts" deleteBreaker="0"/>
    <ops listen="127.0.0.1:0"/>`);
  const people = await seedPeople(superOfficePeople(superoffice), o.sandbox);
  // the test's own eyes on SuperOffice: the adapter as a second reader (another device of the
  // sync's API user, never writing: where SuperOffice keeps no series title, it picks the one
  // the sync wrote, as the sync does)
  const port = await SuperOfficeCrm.open({
    http: new SuperOfficeHttp({ url: superoffice.apiUrl, credentials: { kind: 'basic', user: superoffice.apiUser.userName, password: superoffice.password }, tlsVerify: true, timeoutMs: 10_000, maxSockets: 4 }),
    tenant: superoffice.apiUrl, application: 'ConvergenceTest', device: 'reader', reconcileIntervalMs: 600_000, settleMs: 0, logger: silentLogger(),
  });
  const user = superOfficeCrmUser(superoffice);
  return {
    file, user, port, superoffice, people,
    // every record as the sync maps it: single appointments, series, and their exceptions
    records: async () => {
      const refs = (await user.list()).map((r) => r.ref);
      for (const ref of refs.filter((r) => r.includes('series-'))) refs.push(...[...(await port.exceptions(ref)).values()].map((a) => a.ref));
      return refs;
    },
    occurrences: async () => [...superoffice.store.appointments.values()].filter((a) => a.recurrenceRuleId).map((a) => `appointment:${a.id}`),
    seriesRows: (crmId) => [...superoffice.store.appointments.values()].filter((a) => a.recurrenceRuleId && crmId === `appointment:series-${a.recurrenceRuleId}-${a.associateId}`).map((a) => `${new Date(a.start).toISOString()} ${a.title}`),
    env: { ECS_TEST_SO_PASSWORD: superoffice.password, ECS_SUPEROFFICE_WEBHOOK_SECRET: 'convergence-secret' },
    close: () => port.close(),
  };
}

type Advise = 'EwsStream' | 'GraphNotify';
const GRAPH_SECRET = 'convergence-graph-secret';

for (const [crmKind, advise] of [['reference', 'EwsStream'], ['superoffice', 'EwsStream'], ['reference', 'GraphNotify']] as Array<[CrmKind, Advise]>) describe(`convergence of both directions (${crmKind === 'reference' ? 'reference CRM' : 'SuperOffice'}, ${advise}${crmKind === 'reference' && advise === 'EwsStream' ? ', mixed policy' : ''})`, () => {
  // the reference CRM over EWS runs under a mixed policy: 3 mailboxes to-crm, Personal excluded, private items as blockers
  const mixed = crmKind === 'reference' && advise === 'EwsStream';
  it(`${OPERATIONS} random operations on both sides over ${MAILBOXES} mailboxes, the service SIGKILLed halfway: the CRM and the mailboxes agree item by item${mixed ? ' (what the policy keeps out counted as agreeing)' : ''}`, { timeout: 420_000 }, async () => {
    const t0 = Date.now();
    const phase = (what: string): void => console.log(`# convergence (${crmKind}, ${advise}): ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const graph = advise === 'GraphNotify';
    // the items' ids as the sync knows them: EWS ItemIds, or Graph's (the same made URL-safe)
    const idOf = graph ? graphIdOf : itemIdOf;
    const sandbox = await startSandbox({
      mailboxes: MAILBOXES, itemsPerMailbox: 2, seed: 4242, limits: { heartbeatMs: 500 },
      ...(graph ? { oauth: { apps: [{ tenant: 'contoso', clientId: 'exchange-crm-sync', clientSecret: GRAPH_SECRET }] }, graph: true } : {}),
    });
    const db = new PgDatabase(postgresUrl());
    const crmSchema = uniqueName('crm');
    const stateSchema = uniqueName('state');
    const prefix = uniqueName('conv') + '.';
    const kafka = new Kafka({ clientId: 'convergence-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    let service: ServiceProcess | undefined;
    let superoffice: SuperOfficeSandbox | undefined;
    let closeCrm: (() => void) | undefined;
    try {
      const policy: MixedPolicy | undefined = mixed ? { toCrm: new Set(sandbox.store.all().slice(-3).map((m) => m.address)) } : undefined;
      const crm = await crmUnderTest(crmKind, { sandbox, db, crmSchema, stateSchema, prefix, advise, policy });
      superoffice = crm.superoffice;
      closeCrm = crm.close;
      const { file } = crm;
      const start = (): Promise<ServiceProcess> => startServiceProcess(file, { ECS_TEST_EWS_PASSWORD: 'sandbox', ...crm.env, ...(process.env.ECS_TEST_LOG_LEVEL ? { ECS_LOG_LEVEL: process.env.ECS_TEST_LOG_LEVEL } : {}) });
      service = await start();
      // SuperOffice keeps a title per row, none for the series: once users renamed every
      // occurrence of a series, no row holds the series' title (its occurrences are compared)
      const titleHeld = (crmId: string, subject: unknown): boolean => !crm.seriesRows || !crmId.includes(':series-') || crm.seriesRows(crmId).some((r) => r.slice(r.indexOf(' ') + 1) === String(subject));
      // Graph: the calendars and task lists, by Graph id
      const everything = async (): ReturnType<typeof fetchInventory> => (graph
        ? Object.fromEntries(sandbox.store.all().map((m) => [m.address, Object.fromEntries(['calendar', 'tasks'].flatMap((f) => sandbox.store.itemsIn(m, f)).map((i) => [graphIdOf(m.index, i.seq), changeKeyOf(i.version)]))]))
        : fetchInventory(sandbox.url.replace('/EWS/Exchange.asmx', '')));
      // what the CRM must hold: every item but those in the excluded category (a live mapping of one is a ghost)
      const inventory = async (): ReturnType<typeof fetchInventory> => {
        const all = await everything();
        if (!policy) return all;
        for (const m of sandbox.store.all()) for (const i of ['calendar', 'tasks'].flatMap((f) => sandbox.store.itemsIn(m, f))) if (isExcluded(i)) delete all[m.address]?.[idOf(m.index, i.seq)];
        return all;
      };
      const agreed = async (): Promise<boolean> => {
        const a = await checkAgreement(db, stateSchema, await crm.records(), await inventory());
        return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0 && a.items > 0;
      };
      await waitUntil(agreed, 60_000, 'the first sync');
      phase('first sync done');
      await admin.connect();
      const messages = async (): Promise<number> => {
        let total = 0;
        for (const topic of ['exchange.changes', 'crm.changes']) for (const p of await admin.fetchTopicOffsets(prefix + topic)) total += Number(p.high);
        return total;
      };
      const before = await messages();
      // every message of both topics handled and committed by the handlers' groups (a change
      // being retried holds its offset back, however long its back-off)
      const handled = async (): Promise<boolean> => {
        for (const [group, topic] of [['to-crm', 'exchange.changes'], ['to-exchange', 'crm.changes']]) {
          const ends = new Map((await admin.fetchTopicOffsets(prefix + topic)).map((p) => [p.partition, Number(p.high)]));
          const [committed] = await admin.fetchOffsets({ groupId: prefix + group, topics: [prefix + topic] });
          if (committed.partitions.some((p) => Math.max(0, Number(p.offset)) < (ends.get(p.partition) ?? 0))) return false;
        }
        return true;
      };

      const users = new Users(sandbox, crm.user, crm.occurrences, SEED, crm.people, policy);
      let restarted: Promise<void> | undefined;
      for (let i = 0; i < OPERATIONS; i++) {
        await users.act();
        if (i === OPERATIONS / 2) {
          await service.stop('SIGKILL');
          phase(`service SIGKILLed after ${i} operations`);
          // the users go on while it is down and while it starts again
          restarted = start().then((s) => {
            service = s;
            phase('service started again');
          });
        }
        await new Promise((r) => setTimeout(r, 40));
      }
      phase(`${OPERATIONS} operations done: ${JSON.stringify(users.tally)}`);
      await restarted;

      // quiescence: both sides agree, nothing has been published for 3 s (the echoes of the
      // last writes are in) and every message is handled; a ping-pong would never get there
      let last = '';
      let count = -1;
      let quietSince = Date.now();
      await waitUntil(async () => {
        const now = await messages();
        if (now !== count) [count, quietSince] = [now, Date.now()];
        const a = await checkAgreement(db, stateSchema, await crm.records(), await inventory());
        const content = await contentMismatches(sandbox, db, crm.port, stateSchema, titleHeld, idOf, !!policy);
        const contacts = crm.people ? await contactMismatches(sandbox, db, crm.people, stateSchema, idOf) : [];
        last = JSON.stringify({ ...a, content: content.slice(0, 5), contacts: contacts.slice(0, 5) });
        return a.missing + a.stale + a.ghosts + a.unlinkedRows === 0 && content.length === 0 && contacts.length === 0 && Date.now() - quietSince >= 3_000 && (await handled());
      }, 180_000, 'the CRM and the mailboxes to agree').catch((err: Error) => {
        throw new Error(`${err.message} (seed ${SEED}): ${last}`);
      });
      phase(`agreed and quiet: ${last}`);
      if (policy) {
        // the policy was at work: items in the excluded category without a record, private items as blockers, to-crm mailboxes with items
        const calendars = sandbox.store.all().flatMap((m) => sandbox.store.itemsIn(m, 'calendar'));
        const excluded = calendars.filter(isExcluded).length;
        const blockers = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment where title = $1`, [BLOCKER_TITLE])).rows[0].n;
        phase(`policy: ${excluded} item(s) kept out by category, ${blockers} blocker row(s), ${calendars.filter(isPrivate).length} private item(s)`);
        assert.ok(excluded > 0 && blockers > 0, `the mixed policy was exercised: ${excluded} excluded, ${blockers} blockers`);
      }
      // GraphNotify: the safety poll (10 minutes) never ran — notifications carried every change,
      // contacts' too: one subscription on each mailbox's events and one on its contacts
      if (graph) assert.equal(sandbox.graph!.subscriptions.size, 2 * MAILBOXES, 'a subscription per mailbox on its events and one on its contacts');

      // no duplicates: every live row belongs to exactly one item, every item has one row
      const { rows: dup } = await db.query<{ n: number }>(`select count(*)::int as n from (select crm_id from ${stateSchema}.item_map where not deleted group by crm_id having count(*) > 1) d`);
      assert.equal(dup[0].n, 0, 'no row mapped to two items');
      // no delete lost: a deleted row's item is gone from every mailbox, a deleted item's row is gone
      const stamped = new Set(sandbox.store.all().flatMap((m) => sandbox.store.itemsIn(m, 'calendar').flatMap((i) => [...i.extended.values()].map((v) => String(v.value)))));
      const resurrected = [...users.deletedRows].filter((ref) => stamped.has(ref));
      assert.deepEqual(resurrected, [], 'records deleted in the CRM have no item');
      const records = new Set(await crm.records());
      const { rows: liveRows } = await db.query<{ item_id: string; crm_id: string }>(`select item_id, crm_id from ${stateSchema}.item_map where not deleted`);
      const deletedIds = new Set([...users.deletedItems].map((id) => (graph ? restIdOf(id) : id)));
      assert.deepEqual(liveRows.filter((r) => records.has(r.crm_id) && deletedIds.has(r.item_id)), [], 'items deleted in Exchange have no record');
      // a series' modified occurrences are its exception records
      for (const m of sandbox.store.all()) {
        for (const item of sandbox.store.itemsIn(m, 'calendar').filter((i) => i.modifiedOccurrences?.size && !(policy && isExcluded(i)))) {
          const mapping = liveRows.find((r) => r.item_id === idOf(m.index, item.seq));
          assert.ok(mapping, `the series ${idOf(m.index, item.seq)} is mapped`);
          if (crm.seriesRows) {
            // SuperOffice: a row per occurrence, each with its own title — whether an occurrence
            // is "modified" is Exchange's notion (a row with the series' title is a plain one), so
            // every occurrence is compared: its title and its start
            const occurrences = expandOccurrences(item).map((o) => `${new Date(o.start).toISOString()} ${String(item.modifiedOccurrences?.get(o.originalStart)?.props.Subject ?? item.props.Subject)}`);
            assert.deepEqual(crm.seriesRows(mapping.crm_id).sort(), occurrences.sort(), `occurrences of ${itemIdOf(m.index, item.seq)}`);
            continue;
          }
          const exceptions = await crm.port.exceptions(mapping.crm_id);
          assert.equal(exceptions.size, item.modifiedOccurrences!.size, `exceptions of ${itemIdOf(m.index, item.seq)}`);
        }
      }
      const made = await messages() - before;
      phase(`${made} messages for ${OPERATIONS} operations (${(made / OPERATIONS).toFixed(2)} per operation)`);
      // each user change is one message on its side and at most one echo from the other
      // (more only where the crash made work repeat)
      assert.ok(made <= OPERATIONS * 3, `bounded message count: ${made} for ${OPERATIONS} operations`);
      assert.ok(users.tally.failed < OPERATIONS / 10, `most operations ran: ${JSON.stringify(users.tally)}`);
      if (superoffice) assert.deepEqual(superoffice.validator?.problems ?? [], [], 'the service spoke the Web API as its Swagger definitions say');
    } finally {
      closeCrm?.();
      await service?.stop('SIGTERM');
      await admin.disconnect().catch(() => undefined);
      await sandbox.close();
      await superoffice?.close();
      await db.query(`drop schema if exists ${crmSchema} cascade; drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
      await db.close();
    }
  });
});
