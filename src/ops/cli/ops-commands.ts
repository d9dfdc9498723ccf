import { Option, type Command } from 'commander';
import { DEFAULT_CONFIG_FILE, loadConfig, type LoadedConfig, type SyncConfig } from '../../config/index.js';
import type { ReplayReaders } from '../../handlers/index.js';
import type { openCrmForReading } from '../../crm-adapter/index.js';
import { ConfigError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { groupsOf, topicsOf } from '../../streams/transport/transport.js';
// the EWS client, the log and the CRM are loaded by the commands that use them (a quick CLI)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { StatusReport } from '../status-report.js';
import type { VerifyReport } from '../verify-routes.js';
import type { CliIo } from './main.js';

export interface CommandContext {
  io: CliIo;
  setCode: (code: ExitCode) => void;
  /** The configuration with secrets (for commands that connect); problems printed, exit 2. */
  loadForRun: (file: string) => LoadedConfig | undefined;
}

const configOption = (): Option => new Option('-c, --config <file>', 'the configuration file').default(DEFAULT_CONFIG_FILE);
const urlOption = (): Option => new Option('--url <url>', "the running service's ops address (default: from the configuration's <ops listen>)");

/** Where the running service answers: --url, or the configuration's ops listen address. */
function serviceUrl(ctx: CommandContext, opts: { url?: string; config: string }): string | undefined {
  if (opts.url) return opts.url.replace(/\/+$/, '');
  try {
    const { config } = loadConfig(opts.config, ctx.io.env, { requireSecrets: false });
    const host = ['0.0.0.0', '::', ''].includes(config.ops.listen.host) ? '127.0.0.1' : config.ops.listen.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${config.ops.listen.port}`;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) ctx.io.err(p);
    ctx.setCode(EXIT.INVALID);
    return undefined;
  }
}

async function callService(ctx: CommandContext, url: string, path: string, method: 'GET' | 'POST' = 'GET', timeoutMs = 10_000): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const res = await fetch(`${url}${path}`, { method, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    ctx.io.err(`error: the service does not answer at ${url} (${(err as Error).message}); is it running, and is --url or <ops listen> right?`);
    ctx.setCode(EXIT.FAILURE);
    return undefined;
  }
}

/** False for a refusal of the service: its error printed, exit 3 for an unknown target (404), 1 otherwise. */
function succeeded(ctx: CommandContext, r: { status: number; body: Record<string, unknown> }): boolean {
  if (r.status < 300) return true;
  ctx.io.err(`error: ${String(r.body.error)}`);
  ctx.setCode(r.status === 404 ? EXIT.PROBLEMS : EXIT.FAILURE);
  return false;
}

export function addOpsCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;

  program
    .command('status')
    .description('ask the running service: mailboxes by state (failed ones with their reason), consumer lag, latency, EWS errors, dead letters; exit 3 when something needs attention')
    .addOption(configOption())
    .addOption(urlOption())
    .option('--json', 'print the /status document as JSON')
    .action(async (opts: { config: string; url?: string; json?: boolean }) => {
      const url = serviceUrl(ctx, opts);
      if (!url) return;
      const r = await callService(ctx, url, '/status');
      if (!r) return;
      const s = r.body as unknown as StatusReport;
      if (opts.json) io.out(JSON.stringify(s, null, 2));
      else for (const line of describeStatus(s)) io.out(line);
      if (!s.ready.ok || s.mailboxes.byState.failed > 0 || Object.values(s.dlq).some((n) => n > 0) || (s.verify?.divergences.length ?? 0) > 0) ctx.setCode(EXIT.PROBLEMS);
    });

  for (const action of ['pause', 'resume'] as const) {
    program
      .command(`${action} <mailbox>`)
      .description(action === 'pause' ? 'stop syncing one mailbox (its subscription is removed; its position is kept)' : 'sync a paused mailbox again, from where it stopped')
      .addOption(configOption())
      .addOption(urlOption())
      .action(async (mailbox: string, opts: { config: string; url?: string }) => {
        const url = serviceUrl(ctx, opts);
        if (!url) return;
        const r = await callService(ctx, url, `/control/${action}?address=${encodeURIComponent(mailbox)}`, 'POST');
        if (!r) return;
        if (succeeded(ctx, r)) io.out(`${mailbox}: ${action}d (now ${String(r.body.state)})`);
      });
  }

  program
    .command('reload')
    .description('have the running service read its sync policy again now (the mailbox file\'s and the CRM\'s directions), as SIGHUP does')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (opts: { config: string; url?: string }) => {
      const url = serviceUrl(ctx, opts);
      if (!url) return;
      const r = await callService(ctx, url, '/control/reload', 'POST');
      if (!r) return;
      if (!succeeded(ctx, r)) return;
      const named = r.body.named as Record<string, number>;
      io.out(`sync policy read again: every mailbox ${String(r.body.fallback)} unless named; named: ${Object.entries(named).filter(([, n]) => n > 0).map(([d, n]) => `${n} ${d}`).join(', ') || 'none'}`);
    });

  program
    .command('resync [mailbox]')
    .description("read a mailbox's calendar and tasks again from scratch (or every mailbox's with --all); the handlers' idempotence makes repeats harmless")
    .option('--all', 'every mailbox')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (mailbox: string | undefined, opts: { config: string; url?: string; all?: boolean }) => {
      if (!mailbox === !opts.all) {
        io.err('error: give one mailbox or --all');
        ctx.setCode(EXIT.INVALID);
        return;
      }
      const url = serviceUrl(ctx, opts);
      if (!url) return;
      const r = await callService(ctx, url, opts.all ? '/control/resync?all=true' : `/control/resync?address=${encodeURIComponent(mailbox!)}`, 'POST');
      if (!r) return;
      if (succeeded(ctx, r)) io.out(opts.all ? `resync of ${String(r.body.mailboxes)} mailboxes started` : `resync of ${mailbox} started`);
    });

  program
    .command('verify [mailbox]')
    .description('compare a mailbox (or every mailbox with --all) with the CRM item by item: missing, stale, ghost and unlinked items; exit 3 when they disagree')
    .option('--all', 'every mailbox the service syncs')
    .option('--json', 'print the report as JSON')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (mailbox: string | undefined, opts: { config: string; url?: string; all?: boolean; json?: boolean }) => {
      if (!mailbox === !opts.all) {
        io.err('error: give one mailbox or --all');
        ctx.setCode(EXIT.INVALID);
        return;
      }
      const url = serviceUrl(ctx, opts);
      if (!url) return;
      // every mailbox is read afresh: --all takes minutes on a large tenant
      const r = await callService(ctx, url, opts.all ? '/verify?all=true' : `/verify?mailbox=${encodeURIComponent(mailbox!)}`, 'GET', 60 * 60_000);
      if (!r) return;
      if (!succeeded(ctx, r)) return;
      const report = r.body as unknown as VerifyReport;
      if (opts.json) io.out(JSON.stringify(report, null, 2));
      else for (const line of describeVerify(report)) io.out(line);
      const failed = report.verdicts.some((v) => v.error);
      if (failed || Object.values(report.counts).some((n) => n > 0)) ctx.setCode(EXIT.PROBLEMS);
    });

  const deletes = program.command('deletes').description('deletes the delete breaker holds back (a burst of deletes in a mailbox or in the CRM): list, release or discard them');
  deletes
    .command('list')
    .description('the scopes whose deletes are held back, how many and since when; exit 3 when any are')
    .addOption(configOption())
    .addOption(urlOption())
    .action(async (opts: { config: string; url?: string }) => {
      const url = serviceUrl(ctx, opts);
      if (!url) return;
      const r = await callService(ctx, url, '/deletes');
      if (!r) return;
      const scopes = (r.body.scopes ?? []) as Array<{ scope: string; parked: number; since: string }>;
      if (!scopes.length) io.out('no deletes are held back');
      for (const s of scopes) io.out(`${s.scope}: ${s.parked} delete(s) held back since ${s.since}`);
      if (scopes.length) ctx.setCode(EXIT.PROBLEMS);
    });
  for (const action of ['release', 'discard'] as const) {
    deletes
      .command(`${action} <scope>`)
      .description(action === 'release' ? 'apply the held-back deletes of a scope (exchange:<mailbox> or crm), in their order, and close its breaker' : 'forget the held-back deletes of a scope (the other side keeps those items) and close its breaker')
      .addOption(configOption())
      .addOption(urlOption())
      .action(async (scope: string, opts: { config: string; url?: string }) => {
        const url = serviceUrl(ctx, opts);
        if (!url) return;
        const r = await callService(ctx, url, `/deletes/${action}?scope=${encodeURIComponent(scope)}`, 'POST', 10 * 60_000);
        if (!r) return;
        if (succeeded(ctx, r)) io.out(`${scope}: ${String(r.body[action === 'release' ? 'released' : 'discarded'])} delete(s) ${action === 'release' ? 'applied' : 'discarded'}`);
      });
  }

  program
    .command('test-mailbox <mailbox>')
    .description('check one mailbox as the sync will use it: impersonation, folder access, reading changes, subscribe/unsubscribe; says what is missing (exit 3)')
    .addOption(configOption())
    .action(async (mailbox: string, opts: { config: string }) => {
      const loaded = ctx.loadForRun(opts.config);
      if (!loaded) return;
      const { config } = loaded;
      if (config.exchange.mode.startsWith('Graph')) {
        await testGraphMailbox(ctx, config, mailbox.toLowerCase());
        return;
      }
      if (config.exchange.ews.url === null) {
        io.err(`error: ${config.file} has no <ews url="…">: the built-in sandbox stands in for Exchange, so there is no mailbox to test`);
        ctx.setCode(EXIT.INVALID);
        return;
      }
      const { BackoffGate, checkMailbox, EwsClient } = await import('../../ews/index.js');
      const exchange = new EwsClient({ settings: config.exchange.ews, gate: new BackoffGate(), maxSockets: 4 });
      try {
        const { ews } = config.exchange;
        const account = ews.auth === 'oauth' ? `the app ${ews.oauth?.clientId ?? ''} (auth="oauth")` : `${ews.user} (auth="${ews.auth ?? 'basic'}")`;
        const results = await checkMailbox(exchange, mailbox.toLowerCase(), { account, mode: config.exchange.mode === 'EwsPull' ? 'EwsPull' : 'EwsStream', folders: foldersOf(config) });
        for (const r of results) io.out(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.detail}`);
        const failed = results.filter((r) => !r.ok).length;
        io.out(failed ? `${mailbox}: ${failed} check(s) failed` : `${mailbox}: ready to sync`);
        if (failed) ctx.setCode(EXIT.PROBLEMS);
      } finally {
        await exchange.close();
      }
    });

  const dlq = program.command('dlq').description('the dead-letter topics: changes that could not be applied');
  const topicOption = (): Option => new Option('--topic <which>', 'exchange (changes to the CRM), crm (changes to Exchange) or both').choices(['exchange', 'crm', 'both']).default('both');
  const dlqTopics = (config: SyncConfig, which: string): string[] => {
    const t = topicsOf(config.transport.topicPrefix);
    return [...(which !== 'crm' ? [t.dlq(t.exchangeChanges)] : []), ...(which !== 'exchange' ? [t.dlq(t.crmChanges)] : [])];
  };
  dlq
    .command('list')
    .description('every parked message: why (error code and message) and where it came from; exit 3 when any is not replayed yet')
    .addOption(configOption())
    .addOption(topicOption())
    .option('--json', 'print as JSON')
    .option('--limit <n>', 'at most this many per topic', '1000')
    .action(async (opts: { config: string; topic: string; json?: boolean; limit: string }) => {
      const loaded = ctx.loadForRun(opts.config);
      if (!loaded) return;
      const { openTransport } = await import('../../streams/index.js');
      const { listDeadLetters } = await import('../../handlers/index.js');
      const opened = await openTransport(loaded.config, silentLogger());
      try {
        const all: Record<string, unknown[]> = {};
        let pending = 0;
        for (const topic of dlqTopics(loaded.config, opts.topic)) {
          await opened.transport.ensureTopics([topic]);
          const letters = await listDeadLetters(opened.transport, topic, groupsOf(loaded.config.transport.topicPrefix).dlqReplay, Number(opts.limit) || 1000);
          all[topic] = letters;
          pending += letters.filter((l) => !l.replayed).length;
          if (opts.json) continue;
          io.out(`${topic}: ${letters.length} message(s)`);
          for (const l of letters) {
            const where = l.stage === 'handler' ? `from ${l.original.topic} ${l.original.partition}/${l.original.offset}, group ${l.original.group}`
              : l.item ? `reading ${l.item.folder} item ${l.item.itemId} of ${l.item.mailbox}` : l.record ? `reading CRM record ${l.record.ref}` : 'where from is not recorded';
            io.out(`  ${l.partition}/${l.offset}${l.replayed ? ' (replayed)' : ''}  ${l.parkedAt}  key ${l.key}  [${l.stage}] ${l.errorCode}: ${l.errorMessage}  (${where})${l.refused ? `  — replay refused: ${l.refused}` : ''}`);
          }
        }
        if (opts.json) io.out(JSON.stringify(all, null, 2));
        if (pending > 0) ctx.setCode(EXIT.PROBLEMS);
      } finally {
        await opened.close();
      }
    });
  dlq
    .command('replay')
    .description('send every parked change not replayed yet on (after fixing the cause): a handler\'s back to its topic, an unreadable Exchange item or CRM record read again; what cannot be sent on is parked again with the reason (exit 3)')
    .addOption(configOption())
    .addOption(topicOption())
    .action(async (opts: { config: string; topic: string }) => {
      const loaded = ctx.loadForRun(opts.config);
      if (!loaded) return;
      const { openTransport } = await import('../../streams/index.js');
      const { replayDeadLetters } = await import('../../handlers/index.js');
      const opened = await openTransport(loaded.config, silentLogger());
      const readers = await replayReaders(loaded.config);
      try {
        for (const topic of dlqTopics(loaded.config, opts.topic)) {
          await opened.transport.ensureTopics([topic]);
          const outcome = await replayDeadLetters(opened.transport, topic, groupsOf(loaded.config.transport.topicPrefix).dlqReplay, readers.readers);
          io.out(`${topic}: ${outcome.replayed} message(s) replayed${outcome.refused.length ? `, ${outcome.refused.length} refused and parked again` : ''}`);
          for (const r of outcome.refused) io.out(`  ${r.partition}/${r.offset}  key ${r.key}: not replayed: ${r.reason}`);
          if (outcome.refused.length) ctx.setCode(EXIT.PROBLEMS);
        }
      } finally {
        await readers.close();
        await opened.close();
      }
    });
}

/** test-mailbox over Microsoft Graph: a token, the calendar, the delta, and (GraphNotify) a subscription through the webhook. */
async function testGraphMailbox(ctx: CommandContext, config: SyncConfig, mailbox: string): Promise<void> {
  const { io } = ctx;
  const graph = config.exchange.graph;
  if (graph.url === null) {
    io.err(`error: ${config.file} has no <graph url="…" tenant="…">: the built-in sandbox stands in for Exchange Online, so there is no mailbox to test`);
    ctx.setCode(EXIT.INVALID);
    return;
  }
  const { checkGraphMailbox, GraphNotificationChannel, openGraph, openNotificationInbox } = await import('../../graph/index.js');
  const opened = openGraph(graph, { pastDays: config.sync.windowPastDays, futureDays: config.sync.windowFutureDays });
  // GraphNotify: the webhook listens (or the Event Hub is read) as the service's would, for Graph's validation request (a throwaway clientState)
  const receiver = config.exchange.mode === 'GraphNotify' ? openNotificationInbox(graph, async () => 'test-mailbox') : undefined;
  try {
    const channel = receiver && new GraphNotificationChannel({ http: opened.http, receiver, clientState: async () => 'test-mailbox', lifetimeMinutes: 10 });
    const results = await checkGraphMailbox(opened, mailbox, { app: `${graph.clientId} (${graph.authority})`, ...(channel ? { channel } : {}) });
    for (const r of results) io.out(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.detail}`);
    const failed = results.filter((r) => !r.ok).length;
    io.out(failed ? `${mailbox}: ${failed} check(s) failed` : `${mailbox}: ready to sync over Microsoft Graph (${config.exchange.mode})`);
    if (failed) ctx.setCode(EXIT.PROBLEMS);
  } finally {
    await receiver?.close();
    await opened.store.close();
  }
}

/**
 * How `dlq replay` reads an unreadable item or record again: Exchange through the configured
 * EWS endpoint, the CRM through its port (a reference CRM's database, SuperOffice's Web API).
 * The built-in sandbox and simulator live in the service's process: nothing to read here.
 */
async function replayReaders(config: SyncConfig): Promise<{ readers: ReplayReaders; close(): Promise<void> }> {
  const closers: Array<() => Promise<void>> = [];
  const readers: { exchange?: ReplayReaders['exchange']; crm?: ReplayReaders['crm'] } = {};
  const topics = topicsOf(config.transport.topicPrefix);
  const { crmChangeMessage, exchangeChangeMessage } = await import('../../streams/index.js');
  if (config.exchange.ews.url) {
    const { BackoffGate, EwsClient } = await import('../../ews/index.js');
    const exchange = new EwsClient({ settings: config.exchange.ews, gate: new BackoffGate(), maxSockets: 4 });
    closers.push(() => exchange.close());
    readers.exchange = async ({ mailbox, folder, itemId }) => {
      if (folder !== 'calendar' && folder !== 'tasks' && folder !== 'contacts') return `"${folder}" is not a folder the sync reads`;
      const [read] = await exchange.getItems(mailbox, folder, [itemId]);
      const now = Date.now();
      return { topic: topics.exchangeChanges, message: exchangeChangeMessage({ mailbox, folder, itemId, op: 'u', item: read?.item, missing: !read?.item, position: 'dlq-replay', positionKind: 'ews-syncstate', detectedAt: now, now }) };
    };
  }
  if (config.crm.type !== 'superoffice' || config.crm.superoffice?.url) {
    let opening: ReturnType<typeof openCrmForReading> | undefined;
    readers.crm = async ({ ref, position }) => {
      if (!opening) {
        opening = import('../../crm-adapter/index.js').then((m) => m.openCrmForReading(config));
        closers.push(async () => (await opening!).close());
      }
      const { crm } = await opening;
      const activity = await crm.get(ref);
      const change = { ref, kind: activity?.kind ?? 'appointment', op: activity ? 'u' as const : 'd' as const, time: Date.now(), bySync: false, owner: activity?.owner ?? null, ownerEmail: activity?.ownerEmail ?? null, position: position || 'dlq-replay', activity };
      return { topic: topics.crmChanges, message: crmChangeMessage(crm.name, change) };
    };
  }
  return { readers, close: async () => { for (const c of closers) await c().catch(() => undefined); } };
}

function foldersOf(config: SyncConfig): Array<'calendar' | 'tasks'> {
  const items = config.sync.items;
  return [...(items.includes('appointments') ? (['calendar'] as const) : []), ...(items.includes('tasks') ? (['tasks'] as const) : [])];
}

/** The human form of `status`. */
export function describeStatus(s: StatusReport): string[] {
  const ms = (v: number | null): string => (v === null ? '–' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);
  const lines = [
    `${s.service.instance}: ${s.ready.ok ? 'ready' : `NOT READY — ${s.ready.reasons.map((r) => r.reason).join('; ')}`} (${s.service.advise}, ${s.service.transport} log, up ${s.service.uptimeSeconds} s)`,
    `mailboxes: ${s.mailboxes.total} — ${Object.entries(s.mailboxes.byState).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}; initial sync done for ${s.mailboxes.initialSyncDone}${s.mailboxes.bySide ? `; ${s.mailboxes.bySide.ews} on premises (EWS), ${s.mailboxes.bySide.graph} in Exchange Online (Graph)` : ''}${s.mailboxes.byDirection ? `; one way: ${Object.entries(s.mailboxes.byDirection).map(([d, n]) => `${n} ${d}`).join(', ')}` : ''}`,
  ];
  for (const m of s.mailboxes.attention) lines.push(`  ${m.state.padEnd(11)} ${m.mailbox}${m.reason ? ` — ${m.reason}` : ''}`);
  lines.push(`lag: ${Object.entries(s.lag.current).map(([k, v]) => `${k} ${v}`).join('; ') || 'none'}`);
  lines.push(`latency (last ${s.latency.windowMinutes} min): to CRM p50 ${ms(s.latency.toCrm.p50Ms)} p99 ${ms(s.latency.toCrm.p99Ms)} (${s.latency.toCrm.count}); to Exchange p50 ${ms(s.latency.toExchange.p50Ms)} p99 ${ms(s.latency.toExchange.p99Ms)} (${s.latency.toExchange.count})`);
  const errors = Object.entries(s.ewsErrors);
  lines.push(`EWS errors: ${errors.length ? errors.map(([c, n]) => `${c} ${n}`).join(', ') : 'none'}`);
  lines.push(`dead letters: ${Object.entries(s.dlq).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}`);
  if (s.verify) {
    const v = s.verify;
    const c = v.counts;
    lines.push(`background verify (${v.perRound} mailboxes every ${v.intervalSeconds} s, ${v.checked} compared): ${v.divergences.length ? `APART — ${c.missing} missing, ${c.stale} stale, ${c.ghost} ghost, ${c.unlinked} unlinked` : 'the sides agree'}`);
    for (const d of v.divergences.slice(0, 10)) lines.push(`  ${d.kind.padEnd(8)} ${d.mailbox} ${d.folder} ${[d.itemId && `item ${d.itemId}`, d.crmId].filter(Boolean).join(' / ')} since ${d.since}: ${d.detail}`);
  }
  return lines;
}

/** A verify report as lines: each disagreement, then the totals. */
export function describeVerify(r: VerifyReport): string[] {
  const lines: string[] = [];
  const SIDE = { ews: 'on premises', graph: 'Exchange Online' } as const;
  for (const v of r.verdicts) {
    const who = v.side ? `${v.mailbox} (${SIDE[v.side]})` : v.mailbox;
    if (v.byPolicy) lines.push(`= ${who}: synced ${v.direction}: ${v.byPolicy} difference(s) its direction implies, counted as agreeing`);
    if (v.filtered) lines.push(`= ${who}: ${v.filtered} item(s) the sync policy keeps from the CRM (private items, categories), counted as agreeing`);
    if (v.error) lines.push(`✗ ${who}: not compared: ${v.error}`);
    for (const d of v.disagreements) lines.push(`✗ ${who} ${d.folder}: ${d.kind} ${[d.itemId && `item ${d.itemId}`, d.crmId].filter(Boolean).join(' / ')}: ${d.detail}`);
  }
  const c = r.counts;
  const total = c.missing + c.stale + c.ghost + c.unlinked;
  const sides = r.bySide ? ` (${r.bySide.ews} on premises over EWS, ${r.bySide.graph} in Exchange Online over Graph)` : '';
  lines.push(`${r.mailboxes} mailbox(es)${sides}, ${r.items} items, ${r.records} CRM records: ${total ? `${c.missing} missing, ${c.stale} stale, ${c.ghost} ghost, ${c.unlinked} unlinked` : 'both sides agree'}`);
  if (total && r.inFlight > 0) lines.push(`${r.inFlight} changes are still in the log, not applied: a difference may be one of them — run verify again once the lag is 0`);
  return lines;
}
