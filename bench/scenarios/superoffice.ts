// Scenario 5: both directions on SuperOffice — the sync against the SuperOffice simulator (its
// own process) instead of the reference CRM. Exchange → CRM: the EWS sandbox's activity
// generator at a fixed rate, latency from its journal to the SuperOffice write. CRM → Exchange:
// users' writes through the Web API (60 % new appointments, 30 % edits, 10 % deletes), latency
// from SuperOffice's answer to the mailbox write. Requests per change are counted on both
// APIs; at the end the mailboxes and SuperOffice are compared item by item.
import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng } from '../../src/sandbox/prng.js';
import { PgDatabase } from '../../src/state/index.js';
import { checkAgreement, fetchInventory, type Agreement } from '../lib/agreement.js';
import { uniqueName, type BenchEnvironment } from '../lib/environment.js';
import { matchArrivals, type ArrivedChange, type MadeChange } from '../lib/latency.js';
import { startSandboxProcess } from '../lib/sandbox-process.js';
import { startSuperOfficeProcess, superOfficeRecords } from '../lib/superoffice-process.js';
import { BenchProcess } from '../lib/sync-runner.js';
import { cpuPer1000, figures, mib, round, type LatencyFigures } from './exchange-to-crm.js';

export interface SuperOfficeParams {
  mailboxes: number;
  rate: number;
  seconds: number;
  seed: number;
}

type Direction = LatencyFigures & { crmRequests: number; crmRequestsPerChange: number; cpuSecondsPer1000Changes: number };

export interface SuperOfficeResult {
  params: SuperOfficeParams;
  exchangeToCrm: Direction;
  crmToExchange: Direction;
  peakRssMiB: number;
  agreement: Agreement;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface JournalRecord { n: number; time: number; mailbox: string; op: 'c' | 'u' | 'd'; itemId: string; changeKey: string }

export async function superOffice(params: SuperOfficeParams, env: BenchEnvironment, log: (line: string) => void): Promise<SuperOfficeResult> {
  const M = params.mailboxes;
  const sandbox = await startSandboxProcess(['--mailboxes', String(M), '--items-per-mailbox', '2', '--seed', String(params.seed)]);
  const so = await startSuperOfficeProcess(M);
  const stateSchema = uniqueName('bench_state');
  const db = new PgDatabase(env.postgresUrl);
  let sync: BenchProcess | undefined;
  try {
    const file = join(mkdtempSync(join(tmpdir(), 'ecs-bench-')), 'bench.config.xml');
    writeFileSync(file, `<?xml version="1.0" encoding="utf-8"?>
<configuration><calendar_sync>
  <exchange><events><advise Object="EwsStream"/></events>
    <ews url="${sandbox.url}" user="svc-sync@contoso.test" passwordEnv="ECS_BENCH_EWS_PASSWORD"/><mailboxes source="crm" refresh="3600s"/></exchange>
  <crm type="superoffice" url="${so.apiUrl}" user="ecs-sync" passwordEnv="ECS_BENCH_SO_PASSWORD" webhookListen="127.0.0.1:0" stateSchema="${stateSchema}" pollInterval="1s"/>
  <state type="postgres" url="${env.postgresUrl}"/>
  <transport type="kafka" brokers="${env.brokers}" topicPrefix="${uniqueName('bench')}." partitions="12"/>
  <ops listen="127.0.0.1:0" logLevel="warn"/>
</calendar_sync></configuration>
`);
    sync = await BenchProcess.start('./sync-process.ts', [file], { ...process.env, ECS_BENCH_EWS_PASSWORD: 'sandbox', ECS_BENCH_SO_PASSWORD: so.password, ECS_SUPEROFFICE_WEBHOOK_SECRET: 'bench-secret' });
    let seen = -1;
    for (;;) {
      const s = await sync.stats();
      if (s.initialSyncDone >= M && s.lagToCrm === 0 && s.lagToExchange === 0 && sync.handled.length === seen) break;
      seen = sync.handled.length;
      await sleep(1_000);
    }
    log(`  ${M} mailboxes subscribed, their items in SuperOffice; Exchange activity at ${params.rate}/s for ${params.seconds} s`);

    // ── Exchange → SuperOffice ──
    let before = await sync.stats();
    const journalStart = ((await (await fetch(`${sandbox.base}/sandbox/activity/journal?limit=0`)).json()) as { counts: { total: number } }).counts.total;
    let handledStart = sync.handled.length;
    await fetch(`${sandbox.base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: params.rate }) });
    let started = Date.now();
    await sleep(params.seconds * 1000);
    await fetch(`${sandbox.base}/sandbox/activity`, { method: 'POST', body: JSON.stringify({ rate: 0 }) });
    let seconds = (Date.now() - started) / 1000;
    const madeInExchange: MadeChange[] = [];
    for (let from = journalStart; ;) {
      const { records } = (await (await fetch(`${sandbox.base}/sandbox/activity/journal?after=${from}&limit=50000`)).json()) as { records: JournalRecord[] };
      if (records.length === 0) break;
      for (const r of records) madeInExchange.push({ item: `${r.mailbox}|${r.itemId}`, op: r.op, version: r.changeKey, time: r.time });
      from = records[records.length - 1].n;
    }
    const toCrm = (): ArrivedChange[] => sync!.handled.slice(handledStart).filter((c) => c.direction === 'to-crm').map((c) => ({ item: `${c.source.slice('exchange:'.length)}|${c.subject}`, op: c.op, version: c.version, at: c.at }));
    let deadline = Date.now() + 60_000;
    while (matchArrivals(madeInExchange, toCrm()).lost.length > 0 && Date.now() < deadline) await sleep(500);
    let after = await sync.stats();
    const exchangeToCrm = direction(madeInExchange, matchArrivals(madeInExchange, toCrm()), seconds, before, after);

    // ── SuperOffice → Exchange ──
    log(`  users write to SuperOffice at ${params.rate}/s for ${params.seconds} s`);
    await sleep(2_000);
    before = await sync.stats();
    handledStart = sync.handled.length;
    const random = prng(params.seed);
    const made: MadeChange[] = [];
    const live: Array<{ id: number; user: string }> = [];
    const hour = 3_600_000;
    started = Date.now();
    for (let i = 0; Date.now() - started < params.seconds * 1000; i++) {
      await sleep(Math.max(0, started + (i * 1000) / params.rate - Date.now()));
      const roll = random();
      if (live.length === 0 || roll < 0.6) {
        const n = 1 + Math.floor(random() * M);
        const user = `user${String(n).padStart(Math.max(4, String(M).length), '0')}`;
        const start = Math.floor(Date.now() / hour) * hour + Math.floor(random() * 30 * 24) * hour;
        const r = await so.call(user, 'POST', '/Appointment', { Associate: { AssociateId: n + 1 }, Title: `CRM meeting ${i}`, Location: 'Room 7', StartDate: new Date(start).toISOString(), EndDate: new Date(start + hour).toISOString(), Type: 'inDiary' });
        live.push({ id: Number(r.AppointmentId), user });
        made.push({ item: `appointment:${String(r.AppointmentId)}`, op: 'c', version: String(r.UpdatedDate), time: Date.now() });
      } else if (roll < 0.9) {
        const target = live[Math.floor(random() * live.length)];
        const r = await so.call(target.user, 'PATCH', `/Appointment/${target.id}`, { Title: `CRM meeting edited ${i}` });
        made.push({ item: `appointment:${target.id}`, op: 'u', version: String(r.UpdatedDate), time: Date.now() });
      } else {
        const target = live.splice(Math.floor(random() * live.length), 1)[0];
        await so.call(target.user, 'DELETE', `/Appointment/${target.id}`);
        made.push({ item: `appointment:${target.id}`, op: 'd', version: '', time: Date.now() });
      }
    }
    seconds = (Date.now() - started) / 1000;
    const toExchange = (): ArrivedChange[] => sync!.handled.slice(handledStart).filter((c) => c.direction === 'to-exchange').map((c) => ({ item: c.subject, op: c.op, version: c.version, at: c.at }));
    deadline = Date.now() + 60_000;
    while (matchArrivals(made, toExchange()).lost.length > 0 && Date.now() < deadline) await sleep(500);
    await sleep(2_000); // the echoes of the sync's own writes come back and must change nothing
    after = await sync.stats();
    const crmToExchange = direction(made, matchArrivals(made, toExchange()), seconds, before, after);
    const agreement = await checkAgreement(db, stateSchema, await superOfficeRecords(so), await fetchInventory(sandbox.base));
    return { params, exchangeToCrm, crmToExchange, peakRssMiB: mib(after.peakRss), agreement };
  } finally {
    await sync?.stop().catch(() => undefined);
    sandbox.child.kill('SIGINT');
    so.child.kill('SIGINT');
    await db.query(`drop schema if exists ${stateSchema} cascade`).catch(() => undefined);
    await db.close();
  }
}

function direction(made: readonly MadeChange[], arrival: ReturnType<typeof matchArrivals>, seconds: number, before: Awaited<ReturnType<BenchProcess['stats']>>, after: Awaited<ReturnType<BenchProcess['stats']>>): Direction {
  const crmRequests = after.crmRequests - before.crmRequests;
  return {
    ...figures(made, arrival, seconds, after.ewsRequests - before.ewsRequests),
    crmRequests, crmRequestsPerChange: round(crmRequests / Math.max(1, made.length), 2), cpuSecondsPer1000Changes: cpuPer1000(before, after, made.length),
  };
}
