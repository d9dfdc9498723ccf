// Scenario: a large CRM selection → a contact folder. A static selection of N persons gets a
// subscriber; measured: the time until the subscriber's folder holds all N contacts, the EWS
// requests that took (CreateItem batches of 100), then a churn (100 members edited, 100
// removed, 100 added) and the time until the folder matches again. Finally every member has
// exactly one stamped contact in the folder, and nothing else is there.
import { uniqueName, writeSyncConfig, type BenchEnvironment } from '../lib/environment.js';
import { startBenchWorld } from '../lib/bench-world.js';
import { BenchProcess } from '../lib/sync-runner.js';
import { mib } from './exchange-to-crm.js';

export interface SelectionParams {
  members: number;
  mailboxes: number;
  churn: number;
}

export interface SelectionPhase {
  seconds: number;
  contactsPerSecond: number;
  ewsRequests: number;
  ewsRequestsPerContact: number;
  createItemRequests: number;
}

export interface SelectionResult {
  params: SelectionParams;
  fill: SelectionPhase;
  churn: SelectionPhase & { edited: number; removed: number; added: number };
  /** Members without a contact in the folder. */
  lost: number;
  /** Contacts beyond one per member (a member twice, or a contact of no member). */
  doubled: number;
  peakRssMiB: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function selection(params: SelectionParams, env: BenchEnvironment, log: (line: string) => void): Promise<SelectionResult> {
  const world = await startBenchWorld(params.mailboxes, 7, env);
  const { sandbox, db, crmSchema: s, stateSchema, addresses } = world;
  const subscriber = addresses[0];
  const folderName = 'Bench selection';
  let sync: BenchProcess | undefined;
  const folder = async (): Promise<string[]> => ((await (await fetch(`${sandbox.base}/sandbox/contact-folders?mailbox=${encodeURIComponent(subscriber)}`)).json()) as Record<string, string[]>)[folderName] ?? [];
  const createItems = async (): Promise<number> => ((await (await fetch(`${sandbox.base}/sandbox/stats`)).json()) as { requestsByOperation: Record<string, number> }).requestsByOperation.CreateItem ?? 0;
  const members = async (): Promise<Set<string>> => new Set((await db.query<{ person_id: number }>(`select person_id from ${s}.selection_member where selection_id = 1`)).rows.map((r) => `person:${r.person_id}`));
  /** Waits until the folder lists exactly the members (5 minutes at most). */
  const matches = async (): Promise<boolean> => {
    const want = await members();
    const deadline = Date.now() + 300_000;
    for (;;) {
      const stamps = await folder();
      if (stamps.length === want.size && stamps.every((x) => want.has(x))) return true;
      if (Date.now() > deadline) return false;
      await sleep(250);
    }
  };
  try {
    const owner = (await db.query<{ associate_id: number }>(`select associate_id from ${s}.associate where email = $1`, [subscriber])).rows[0].associate_id;
    await db.query(`insert into ${s}.contact (name) select 'Company ' || g from generate_series(1, 50) g`);
    await db.query(
      `insert into ${s}.person (contact_id, firstname, lastname, email, phone, title)
       select 1 + g % 50, 'Given' || g, 'Member' || g, 'member' || g || '@example.com', '+1 555 ' || lpad(g::text, 4, '0'), 'Buyer' from generate_series(1, $1::int) g`, [params.members]);
    await db.query(`insert into ${s}.selection (selection_id, name, associate_id) values (1, $1, $2)`, [folderName, owner]);
    await db.query(`insert into ${s}.selection_member (selection_id, person_id) select 1, person_id from ${s}.person`);
    const config = writeSyncConfig({ ewsUrl: sandbox.url, mode: 'EwsStream', pullInterval: '10s', env, crmSchema: s, stateSchema, topicPrefix: `${uniqueName('bench')}.` });
    sync = await BenchProcess.start('./sync-process.ts', [config], { ...process.env, ECS_BENCH_EWS_PASSWORD: 'sandbox' });
    for (;;) {
      const st = await sync.stats();
      if (st.initialSyncDone >= params.mailboxes && st.lagToExchange === 0) break;
      await sleep(500);
    }
    log(`  ${params.members} persons in one selection; ${subscriber} subscribes to it`);
    const phase = async (work: () => Promise<void>, contacts: number): Promise<SelectionPhase> => {
      const before = await sync!.stats();
      const creates = await createItems();
      const started = Date.now();
      await work();
      if (!(await matches())) throw new Error(`the folder did not match the selection within 5 minutes (${(await folder()).length} contacts)`);
      // and every person change applied (the edits of members change no count)
      while ((await sync!.stats()).lagToExchange > 0) await sleep(100);
      const seconds = (Date.now() - started) / 1000;
      const after = await sync!.stats();
      const ewsRequests = after.ewsRequests - before.ewsRequests;
      return {
        seconds: Math.round(seconds * 10) / 10, contactsPerSecond: Math.round(contacts / seconds), ewsRequests,
        ewsRequestsPerContact: Math.round((ewsRequests / contacts) * 1000) / 1000, createItemRequests: (await createItems()) - creates,
      };
    };
    const fill = await phase(() => db.query(`insert into ${s}.selection_subscriber (selection_id, associate_id) values (1, $1)`, [owner]).then(() => undefined), params.members);
    log(`  filled: ${params.members} contacts in ${fill.seconds} s, ${fill.ewsRequests} EWS requests (${fill.createItemRequests} CreateItem)`);
    const n = params.churn;
    const churn = await phase(async () => {
      await db.query(`update ${s}.person set title = 'Head buyer' where person_id in (select person_id from ${s}.person order by person_id limit $1)`, [n]);
      await db.query(`delete from ${s}.selection_member where selection_id = 1 and person_id in (select person_id from ${s}.person order by person_id desc limit $1)`, [n]);
      const made = await db.query<{ person_id: number }>(
        `insert into ${s}.person (contact_id, firstname, lastname, email) select 1, 'New' || g, 'Joiner' || g, 'joiner' || g || '@example.com' from generate_series(1, $1::int) g returning person_id`, [n]);
      await db.query(`insert into ${s}.selection_member (selection_id, person_id) select 1, unnest($1::int[])`, [made.rows.map((r) => r.person_id)]);
    }, n * 3);
    const stamps = await folder();
    const want = await members();
    const lost = [...want].filter((m) => !stamps.includes(m)).length;
    const doubled = stamps.length - new Set(stamps).size + stamps.filter((x) => !want.has(x)).length;
    const stats = await sync.stats();
    return { params, fill, churn: { ...churn, edited: n, removed: n, added: n }, lost, doubled, peakRssMiB: mib(stats.peakRss) };
  } finally {
    await sync?.stop().catch(() => undefined);
    await world.close();
  }
}
