import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../../config/index.js';
import { FolderLocked } from '../../shared/folder-lock.js';
import { createLogger } from '../../shared/logger.js';
import { EXIT } from '../exit-codes.js';
import type { CommandContext } from './ops-commands.js';

const positive = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('a whole number from 1 to 10000');
  return n;
};

/** `migrate --to graph`: a hybrid organisation's moved mailboxes follow to Microsoft Graph (the sync stopped). */
export function addMigrateCommand(program: Command, ctx: CommandContext): void {
  program
    .command('migrate [mailboxes...]')
    .description('a hybrid organisation: carry the sync state of mailboxes Exchange has moved to Exchange Online over to Microsoft Graph (item ids translated, else found by our stamp; positions re-based), in batches with verify before and after; nothing is written to the mailboxes or the CRM. The running sync (at <ops listen>) does it itself; with none running, this command does')
    .addOption(new Option('--to <protocol>', 'where to (graph)').choices(['graph']).makeOptionMandatory())
    .option('--all', 'every mailbox the sync state has on premises')
    .option('--dry-run', 'report per mailbox how many items would be matched by id, by stamp and not at all; write nothing')
    .addOption(new Option('--batch-size <n>', 'mailboxes per batch (verify runs after each; the run stops at the first batch that agrees less than before)').argParser(positive).default(25))
    .addOption(new Option('-c, --config <file>', 'the configuration file').default(DEFAULT_CONFIG_FILE))
    .addOption(new Option('--url <url>', "the running sync's ops address (default: the configuration's <ops listen>)"))
    .action(async (mailboxes: string[], opts: { config: string; url?: string; all?: boolean; dryRun?: boolean; batchSize: number }) => {
      const { io } = ctx;
      if (!opts.all === !mailboxes.length) {
        io.err('error: name the mailboxes to move, or --all (not both)');
        ctx.setCode(EXIT.INVALID);
        return;
      }
      const loaded = ctx.loadForRun(opts.config);
      if (!loaded) return;
      const { config } = loaded;
      const request = { mailboxes, all: opts.all === true, dryRun: opts.dryRun === true, batchSize: opts.batchSize };
      const running = opts.url ? opts.url.replace(/\/+$/, '') : await serviceAt(config.ops.listen);
      if (running) {
        // the running sync moves them itself: each mailbox leaves its EWS source, its state moves, Graph takes it over
        const r = await fetch(`${running}/moves`, { method: 'POST', body: JSON.stringify(request), signal: AbortSignal.timeout(6 * 60 * 60_000) }).catch((err: Error) => err);
        if (r instanceof Error) {
          io.err(`error: the sync at ${running} did not answer the move (${r.message})`);
          ctx.setCode(EXIT.FAILURE);
          return;
        }
        const body = (await r.json()) as { lines?: string[]; error?: string; stoppedAt?: number; mailboxes?: Array<{ skipped?: string }> };
        if (!r.ok) {
          io.err(`error: ${body.error ?? r.status}`);
          ctx.setCode(r.status === 400 ? EXIT.INVALID : EXIT.FAILURE);
          return;
        }
        for (const line of body.lines ?? []) io.out(line);
        if (body.stoppedAt !== undefined || body.mailboxes?.some((m) => m.skipped)) ctx.setCode(EXIT.PROBLEMS);
        return;
      }
      const logger = createLogger({ level: 'warn', format: config.ops.logFormat ?? 'auto' });
      const { CannotMigrate, migrateToGraph } = await import('../migrate-to-graph.js');
      try {
        const report = await migrateToGraph(config, request, logger, io.out);
        if (report.stoppedAt !== undefined || report.mailboxes.some((m) => m.skipped)) ctx.setCode(EXIT.PROBLEMS);
      } catch (err) {
        if (!(err instanceof CannotMigrate) && !(err instanceof FolderLocked)) throw err;
        io.err(`error: ${err.message}`);
        ctx.setCode(EXIT.INVALID);
      }
    });
}

/** The running sync's ops address, if one answers at the configured one (with port 0 there is none to find). */
async function serviceAt(listen: { host: string; port: number }): Promise<string | undefined> {
  if (listen.port === 0) return undefined;
  const host = ['0.0.0.0', '::', ''].includes(listen.host) ? '127.0.0.1' : listen.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return url;
  } catch {
    return undefined;
  }
}
