// Scenario 2: CRM → Exchange. Users' writes to the CRM (60 % new appointments, 30 % edits,
// 10 % deletes of rows written earlier) at a fixed rate; latency from the write's commit
// to the moment the item was created, updated or deleted in the mailbox.
import { prng } from '../../src/sandbox/prng.js';
import { checkAgreement, fetchInventory, referenceRecords, type Agreement } from '../lib/agreement.js';
import { uniqueName, writeSyncConfig, type BenchEnvironment } from '../lib/environment.js';
import { matchArrivals, type ArrivedChange, type MadeChange } from '../lib/latency.js';
import { startBenchWorld } from '../lib/bench-world.js';
import type { LatencyProfile } from '../../src/sandbox/index.js';
import { BenchProcess } from '../lib/sync-runner.js';
import { cpuPer1000, figures, mib, type LatencyFigures } from './exchange-to-crm.js';

export interface CrmToExchangeParams {
  mailboxes: number;
  rate: number;
  seconds: number;
  seed: number;
  /** How long the sandbox's EWS takes to answer (none: at once). */
  latency?: LatencyProfile;
}

export interface CrmToExchangeResult {
  params: CrmToExchangeParams;
  sync: LatencyFigures & { peakRssMiB: number; cpuSecondsPer1000Changes: number };
  agreement: Agreement;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function crmToExchange(params: CrmToExchangeParams, env: BenchEnvironment, log: (line: string) => void): Promise<CrmToExchangeResult> {
  const M = params.mailboxes;
  const { sandbox, db, crmSchema, stateSchema, close } = await startBenchWorld(M, params.seed, env, params.latency);
  let sync: BenchProcess | undefined;
  try {
    const { rows: associates } = await db.query<{ associate_id: number }>(`select associate_id from ${crmSchema}.associate order by associate_id`);
    const config = writeSyncConfig({ ewsUrl: sandbox.url, mode: 'EwsStream', pullInterval: '10s', env, crmSchema, stateSchema, topicPrefix: `${uniqueName('bench')}.` });
    sync = await BenchProcess.start('./sync-process.ts', [config], { ...process.env, ECS_BENCH_EWS_PASSWORD: 'sandbox' });
    let seen = -1;
    for (;;) {
      const s = await sync.stats();
      if (s.initialSyncDone >= M && s.lagToCrm === 0 && sync.handled.length === seen) break;
      seen = sync.handled.length;
      await sleep(1_000);
    }
    log(`  ${M} mailboxes subscribed; writing to the CRM at ${params.rate}/s for ${params.seconds} s`);
    const before = await sync.stats();
    const handledStart = sync.handled.length;
    const random = prng(params.seed);
    const made: MadeChange[] = [];
    const live: number[] = [];
    const started = Date.now();
    const hour = 3_600_000;
    for (let i = 0; Date.now() - started < params.seconds * 1000; i++) {
      // one write per 1/rate seconds, on schedule (a slow write does not lower the rate)
      await sleep(Math.max(0, started + (i * 1000) / params.rate - Date.now()));
      const roll = random();
      if (live.length === 0 || roll < 0.6) {
        const start = Math.floor(Date.now() / hour) * hour + Math.floor(random() * 30 * 24) * hour;
        const owner = associates[Math.floor(random() * associates.length)].associate_id;
        const { rows } = await db.query<{ appointment_id: number; updated_count: number }>(
          `insert into ${crmSchema}.appointment (associate_id, type, title, location, start_at, end_at, time_zone, all_day, private, done)
           values ($1, 1, $2, 'Room 7', $3, $4, 'W. Europe Standard Time', false, false, false) returning appointment_id, updated_count`,
          [owner, `CRM meeting ${i}`, new Date(start), new Date(start + hour)],
        );
        live.push(rows[0].appointment_id);
        made.push({ item: `appointment:${rows[0].appointment_id}`, op: 'c', version: String(rows[0].updated_count), time: Date.now() });
      } else if (roll < 0.9) {
        const id = live[Math.floor(random() * live.length)];
        const { rows } = await db.query<{ updated_count: number }>(`update ${crmSchema}.appointment set title = $2 where appointment_id = $1 returning updated_count`, [id, `CRM meeting edited ${i}`]);
        made.push({ item: `appointment:${id}`, op: 'u', version: String(rows[0].updated_count), time: Date.now() });
      } else {
        const id = live.splice(Math.floor(random() * live.length), 1)[0];
        await db.query(`delete from ${crmSchema}.appointment where appointment_id = $1`, [id]);
        made.push({ item: `appointment:${id}`, op: 'd', version: '', time: Date.now() });
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const arrived = (): ArrivedChange[] => sync!.handled.slice(handledStart).filter((c) => c.direction === 'to-exchange').map((c) => ({ item: c.subject, op: c.op, version: c.version, at: c.at }));
    const deadline = Date.now() + 60_000;
    while (matchArrivals(made, arrived()).lost.length > 0 && Date.now() < deadline) await sleep(500);
    await sleep(2_000); // the echoes of our own writes come back through to-crm and must change nothing
    const after = await sync.stats();
    const arrival = matchArrivals(made, arrived());
    const agreement = await checkAgreement(db, stateSchema, await referenceRecords(db, crmSchema), await fetchInventory(sandbox.base));
    return {
      params,
      sync: { ...figures(made, arrival, seconds, after.ewsRequests - before.ewsRequests), peakRssMiB: mib(after.peakRss), cpuSecondsPer1000Changes: cpuPer1000(before, after, made.length) },
      agreement,
    };
  } finally {
    await sync?.stop().catch(() => undefined);
    await close();
  }
}
