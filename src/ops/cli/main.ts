import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CONFIG_FILE, describeConfig, loadConfig, type LoadedConfig } from '../../config/index.js';
import { ConfigError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { EXIT } from '../exit-codes.js';
import { addOpsCommands } from './ops-commands.js';
import { addMigrateCommand } from './migrate-command.js';
import { budgetOf, capacityProblem } from '../../subscriptions/account-capacity.js';
import { CsvFileDirectory, StaticDirectory } from '../../subscriptions/mailbox-directory.js';
import { countByDirection, type SyncDirection } from '../../subscriptions/mailbox-direction.js';
import { FolderLocked } from '../../shared/folder-lock.js';
import { lockDataFolders } from '../data-folders.js';
import { DEFAULT_API_USER } from '../../superoffice-sandbox/api-user.js';
import type { LatencyProfile } from '../../sandbox/latency-model.js';
// What a command needs is loaded when it runs (the service, the sandboxes, the databases): the
// CLI answers --help, validate-config and status without loading the whole sync.

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** Builds the command tree; `run` parses argv and resolves to the exit code. */
export function buildProgram(io: CliIo = defaultIo): { program: Command; exitCode: () => number } {
  let code: number = EXIT.OK;
  /** The configuration for a command that runs something; problems are printed, exit 2. */
  const loadForRun = (file: string): LoadedConfig | undefined => {
    try {
      return loadConfig(file, io.env, { requireSecrets: true });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) io.err(p);
      code = EXIT.INVALID;
      return undefined;
    }
  };
  const program = new Command('exchange-crm-sync')
    .description('Two-way, event-driven synchronisation between Exchange mailboxes (EWS) and a CRM, through Kafka.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('validate-config')
    .description('check a configuration file; prints a summary (exit 0) or every problem (exit 2)')
    .argument('[file]', 'the configuration file', DEFAULT_CONFIG_FILE)
    // as start and the other commands take it
    .option('-c, --config <file>', 'the configuration file (instead of the argument)')
    .action(async (argument: string, opts: { config?: string }) => {
      const file = opts.config ?? argument;
      try {
        const { config, warnings } = loadConfig(file, io.env, { requireSecrets: false });
        // delegate access: can the one account carry the mailboxes the file names?
        const { ews, mailboxes } = config.exchange;
        if (ews.url && !ews.impersonation && mailboxes.source !== 'crm') {
          const count = (await (mailboxes.source === 'list' ? new StaticDirectory(mailboxes.list) : new CsvFileDirectory(mailboxes.file ?? '')).list().catch(() => [])).length;
          const problem = capacityProblem(count, budgetOf(config, ews));
          if (problem) {
            io.err(`${file}: calendar_sync/exchange/ews@impersonation: ${problem}`);
            code = EXIT.INVALID;
            return;
          }
        }
        io.out(`${file}: valid`);
        for (const line of describeConfig(config)) io.out(`  ${line}`);
        // the operator's word on single mailboxes (<mailbox direction>, the mailbox file's column), as the service will read it
        const named = mailboxes.source === 'file' && mailboxes.file
          ? await new CsvFileDirectory(mailboxes.file).directions().catch(() => new Map<string, SyncDirection>())
          : mailboxes.directions;
        const counts = Object.entries(countByDirection(named.values())).filter(([, n]) => n > 0);
        if (counts.length) io.out(`  policy, ${mailboxes.source === 'file' ? 'the mailbox file' : '<mailbox direction>'}: ${counts.map(([d, n]) => `${n} ${d}`).join(', ')} (the other mailboxes ${config.sync.direction})`);
        for (const w of warnings) io.err(`warning: ${w}`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        for (const p of err.problems) io.err(p);
        code = EXIT.INVALID;
      }
    });

  program
    .command('start', { isDefault: false })
    .description('run the sync (the default for npm start): embedded log, CRM and EWS sandbox unless configured otherwise')
    .addOption(new Option('-c, --config <file>', 'the configuration file').default(DEFAULT_CONFIG_FILE))
    .option('--rebaseline', 'the sync state belongs to another CRM: forget its mappings and positions (every mailbox is read anew, its items created in this CRM)')
    .option('--move-to-graph', 'the sync state is this organisation\'s over EWS and <advise> now asks for Microsoft Graph: keep it (item ids translated, positions re-based; nothing is written to the mailboxes or the CRM)')
    .action(async (opts: { config: string; rebaseline?: boolean; moveToGraph?: boolean }) => {
      const loaded = loadForRun(opts.config);
      if (!loaded) return;
      const logger = createLogger({ level: loaded.config.ops.logLevel, format: loaded.config.ops.logFormat ?? 'auto' });
      // A bug in a library callback must not take the whole sync down: log it with context and go on.
      process.on('unhandledRejection', (err) => logger.error({ err, event: 'unhandled-rejection' }, 'unhandled promise rejection'));
      process.on('uncaughtException', (err) => logger.error({ err, event: 'uncaught-exception' }, 'uncaught exception'));
      for (const w of loaded.warnings) logger.warn({ event: 'config.warning' }, w);
      logger.info({ event: 'config.loaded', file: loaded.config.file, summary: describeConfig(loaded.config) }, 'configuration loaded');
      let service;
      try {
        const footprint = (await import('../v8-footprint.js')).applyV8Footprint(loaded.config);
        logger.info({ event: 'v8.footprint', footprint }, footprint === 'small' ? 'V8 favours memory over speed (ops@footprint: an embedded database runs here)' : 'V8 at its defaults (ops@footprint)');
        const { startService } = await import('../service.js');
        service = await startService(loaded.config, logger, { rebaseline: opts.rebaseline === true, moveToGraph: opts.moveToGraph === true });
      } catch (err) {
        if (err instanceof FolderLocked) {
          logger.error({ event: 'data-folder.locked', folder: err.folder, holder: err.holder }, err.message);
          io.err(`error: ${err.message}`);
          code = EXIT.INVALID;
          return;
        }
        const { CannotMoveToGraph, StateOfAnotherProtocol } = await import('../exchange-migration.js');
        if (err instanceof StateOfAnotherProtocol || err instanceof CannotMoveToGraph) {
          logger.error({ event: err instanceof CannotMoveToGraph ? 'state.cannot-move' : 'state.another-protocol' }, err.message);
          io.err(`error: ${err.message}`);
          code = EXIT.INVALID;
          return;
        }
        const { StateOfAnotherSide } = await import('../../state/state-identity.js');
        if (!(err instanceof StateOfAnotherSide)) throw err;
        logger.error({ event: `state.another-${err.side}`, recorded: err.recorded, current: err.current }, err.message);
        io.err(`error: ${err.message}`);
        code = EXIT.INVALID;
        return;
      }
      service.lifecycle.handleSignals();
      logger.info({ event: 'service.started' }, 'exchange-crm-sync running; Ctrl-C (SIGINT) or SIGTERM stops it');
      // Runs until a signal; handleSignals exits the process after an ordered shutdown.
      await new Promise<never>(() => undefined);
    });

  const crm = program.command('crm').description('the reference CRM');
  crm
    .command('init')
    .description('create or migrate the reference CRM schema and the sync state schema (idempotent)')
    .addOption(new Option('-c, --config <file>', 'the configuration file').default(DEFAULT_CONFIG_FILE))
    .action(async (opts: { config: string }) => {
      const loaded = loadForRun(opts.config);
      if (!loaded) return;
      const { config } = loaded;
      let folders;
      try {
        folders = lockDataFolders(config, createLogger({ level: 'silent' }));
      } catch (err) {
        if (!(err instanceof FolderLocked)) throw err;
        io.err(`error: ${err.message}`);
        code = EXIT.INVALID;
        return;
      }
      const { openDatabase, SqlPositionStore } = await import('../../state/index.js');
      const { initReferenceCrm } = await import('../../crm-adapter/index.js');
      const { ItemMappingStore } = await import('../../handlers/index.js');
      const database = config.crm.type === 'superoffice' ? undefined : await openDatabase({ type: config.crm.type, url: config.crm.url, path: config.crm.path, poolSize: 2 });
      const state = config.state.shared && database ? database : await openDatabase({ ...config.state, poolSize: 2 });
      try {
        if (database) await initReferenceCrm(database, config.crm.schema);
        await SqlPositionStore.open(state, config.state.schema);
        await ItemMappingStore.migrate(state, config.state.schema);
        io.out(database
          ? `CRM schema "${config.crm.schema}" and state schema "${config.state.schema}" are ready (${database.kind}${state === database ? '' : `; state: ${state.kind}`})`
          : `SuperOffice needs no schema; state schema "${config.state.schema}" is ready (${state.kind})`);
      } finally {
        if (state !== database) await state.close();
        await database?.close();
        for (const f of folders) f.release();
      }
    });

  program
    .command('sandbox')
    .description('serve the built-in Exchange sandbox on 127.0.0.1 — an Exchange 2016-like EWS endpoint, Microsoft Graph v1.0 over the same mailboxes and an Entra ID token endpoint — for demos, tests and load')
    .addOption(new Option('-p, --port <port>', 'TCP port (0: any free port)').default(8080).argParser(wholeNumber('--port', 0, 65_535)))
    .addOption(new Option('-m, --mailboxes <n>', 'demo mailboxes user0001@contoso.test …').default(50).argParser(wholeNumber('--mailboxes', 1, 1_000_000)))
    .addOption(new Option('--items-per-mailbox <n>', 'appointments and tasks created in each mailbox at start').default(10).argParser(wholeNumber('--items-per-mailbox', 0, 10_000)))
    .addOption(new Option('--password <password>', 'password of svc-sync@contoso.test and the mailbox users (default: $ECS_SANDBOX_PASSWORD or "sandbox")'))
    .addOption(new Option('--seed <n>', 'seed of the demo data and activity').default(1).argParser(wholeNumber('--seed', 0, 2 ** 31 - 1)))
    .addOption(new Option('--activity <rate>', 'changes per second made by the activity generator').default(0).argParser(positiveNumber('--activity')))
    // each limit is charged to a budget: with impersonation a copy of the target mailbox's, else the account's
    .addOption(new Option('--hanging-connection-limit <n>', 'HangingConnectionLimit: streaming connections per budget (Exchange default 10)').default(10).argParser(wholeNumber('--hanging-connection-limit', 1, 100_000)))
    .addOption(new Option('--max-subscriptions-per-mailbox <n>', 'EWSMaxSubscriptions: subscriptions per budget (Exchange Online default 20)').default(20).argParser(wholeNumber('--max-subscriptions-per-mailbox', 1, 100_000)))
    .addOption(new Option('--max-concurrency <n>', 'EWSMaxConcurrency: requests under way per budget (Exchange default 27)').default(27).argParser(wholeNumber('--max-concurrency', 1, 100_000)))
    .addOption(new Option('--heartbeat <ms>', 'keep-alive interval of streaming connections, ms').default(30000).argParser(wholeNumber('--heartbeat', 100, 600_000)))
    .addOption(new Option('--backends <n>', 'simulated mailbox servers (affinity checks when > 1)').default(1).argParser(wholeNumber('--backends', 1, 64)))
    .addOption(new Option('--latency <profile>', 'how long EWS takes to answer, per operation with a tail: none, on-premises (GetItem median 40 ms) or online (120 ms)').default('none').choices(['none', 'on-premises', 'online']))
    .addOption(new Option('--auth <schemes>', 'what the EWS virtual directory offers: basic, ntlm (Windows authentication) or both').default('basic,ntlm').choices(['basic,ntlm', 'ntlm,basic', 'basic', 'ntlm']))
    .addOption(new Option('--delegates <accounts>', 'more service accounts with FullAccess on every mailbox (delegate access, impersonation="false"), comma-separated: svc-sync2,svc-sync3'))
    .addOption(new Option('--oauth <tenant/clientId>', 'the app the Entra ID token endpoint (HTTPS) knows; its client secret is $ECS_SANDBOX_CLIENT_SECRET or "sandbox"').default('contoso/exchange-crm-sync'))
    .addOption(new Option('--oauth-ca-file <file>', "write the certificate of the token and Graph endpoints here (<ews caFile>, <graph caFile>; default: a file in the temporary folder)"))
    .action(async (opts: SandboxCliOptions) => {
      const app = opts.oauth ? /^([A-Za-z0-9.-]+)\/(\S+)$/.exec(opts.oauth) : undefined;
      if (opts.oauth && !app) throw new InvalidArgumentError(`--oauth: "${opts.oauth}" is not tenant/clientId`);
      const { startSandbox } = await import('../../sandbox/index.js');
      const sandbox = await startSandbox({
        auth: { basic: opts.auth.includes('basic'), ntlm: opts.auth.includes('ntlm') },
        ...(opts.delegates ? { delegates: opts.delegates.split(',').map((d) => d.trim()).filter(Boolean) } : {}),
        ...(app ? { oauth: { apps: [{ tenant: app[1], clientId: app[2], clientSecret: io.env.ECS_SANDBOX_CLIENT_SECRET || 'sandbox' }] }, graph: true } : {}),
        port: opts.port, mailboxes: opts.mailboxes, itemsPerMailbox: opts.itemsPerMailbox, password: opts.password ?? io.env.ECS_SANDBOX_PASSWORD,
        seed: opts.seed, activity: opts.activity, latency: opts.latency,
        limits: { hangingConnectionLimit: opts.hangingConnectionLimit, maxSubscriptionsPerMailbox: opts.maxSubscriptionsPerMailbox, maxConcurrency: opts.maxConcurrency, heartbeatMs: opts.heartbeat, backends: opts.backends },
      });
      io.out(`EWS endpoint: ${sandbox.url}`);
      io.out(`service account: ${sandbox.serviceAccount} (${opts.auth.split(',').join(' or ')}, impersonation); mailboxes user${'0'.repeat(Math.max(4, String(opts.mailboxes).length) - 1)}1@contoso.test … (${opts.mailboxes})`);
      if (app && sandbox.tokens && sandbox.graph) {
        const caFile = opts.oauthCaFile ?? join(tmpdir(), `ecs-sandbox-ca-${sandbox.port}.pem`);
        writeFileSync(caFile, sandbox.tokens.ca);
        io.out(`Graph endpoint: ${sandbox.graph.url}`);
        io.out(`Token endpoint: ${sandbox.tokens.authority(app[1])}/oauth2/v2.0/token (app ${app[2]}, tenant ${app[1]})`);
        io.out(`CA file: ${caFile}`);
        io.out(`OAuth: <ews auth="oauth" authority="${sandbox.tokens.url}" tenant="${app[1]}" clientId="${app[2]}" caFile="${caFile}"/> (client secret in ECS_EWS_CLIENT_SECRET)`);
        io.out(`Graph: <graph url="${sandbox.graph.url}" authority="${sandbox.tokens.url}" tenant="${app[1]}" clientId="${app[2]}" caFile="${caFile}"/> with <advise Object="GraphDelta"/> (client secret in ECS_GRAPH_CLIENT_SECRET)`);
      }
      io.out(`control API: http://127.0.0.1:${sandbox.port}/sandbox/stats (restart, throttle, latency, drop-connections, activity)`);
      const report = setInterval(() => {
        const c = sandbox.activity.counts;
        io.out(`activity: ${c.total} changes (${c.created} created, ${c.updated} updated, ${c.deleted} deleted); ${sandbox.stats.totalRequests()} EWS requests; ${sandbox.openConnections.size} streaming connections`);
      }, 10_000);
      report.unref();
      await untilSignal();
      clearInterval(report);
      await sandbox.close();
      io.out('sandbox stopped');
    });

  program
    .command('superoffice-sandbox')
    .description('serve the SuperOffice Web API simulator (the subset of /api/v1 the SuperOffice adapter uses) on 127.0.0.1, for demos, tests and load')
    .addOption(new Option('-p, --port <port>', 'TCP port (0: any free port)').default(8081).argParser(wholeNumber('--port', 0, 65_535)))
    .addOption(new Option('-a, --associates <n>', 'CRM users user0001@contoso.test … (the EWS sandbox\'s mailboxes)').default(50).argParser(wholeNumber('--associates', 0, 1_000_000)))
    .addOption(new Option('--api-user <name>', 'the integration user the sync logs in as').default(DEFAULT_API_USER))
    .addOption(new Option('--password <password>', 'every user\'s password (default: $ECS_SUPEROFFICE_SANDBOX_PASSWORD or "sandbox")'))
    .addOption(new Option('--seed <n>', 'seed of injected faults').default(1).argParser(wholeNumber('--seed', 0, 2 ** 31 - 1)))
    .action(async (opts: { port: number; associates: number; apiUser: string; password?: string; seed: number }) => {
      const { startSuperOfficeSandbox } = await import('../../superoffice-sandbox/index.js');
      const sandbox = await startSuperOfficeSandbox({ port: opts.port, associates: opts.associates, apiUser: opts.apiUser, password: opts.password ?? io.env.ECS_SUPEROFFICE_SANDBOX_PASSWORD, seed: opts.seed });
      io.out(`SuperOffice Web API: ${sandbox.apiUrl}`);
      io.out(`API user: ${sandbox.apiUser.userName} (Basic, SOTICKET or Bearer; associate id ${sandbox.apiUser.id}); users user0001 … (${opts.associates}), e-mail user0001@contoso.test …`);
      io.out(`control API: ${sandbox.url}/sandbox/stats (faults, latency, webhooks/drop, restart, tickets, journal)`);
      await untilSignal();
      await sandbox.close();
      io.out('SuperOffice sandbox stopped');
    });

  const commandContext = { io, setCode: (c: number) => (code = c), loadForRun };
  addOpsCommands(program, commandContext);
  addMigrateCommand(program, commandContext);

  program
    .command('bench')
    .description('run the benchmarks (needs a clone with dev dependencies): stream vs pull, CRM → Exchange, transport overhead, polling baseline, scale')
    .option('--quick', 'a run of under two minutes (smaller sizes, shorter activity)')
    .option('--scenarios <list>', 'comma-separated: transport, exchange-to-crm, crm-to-exchange, scale')
    .option('--seed <n>', 'seed of the activity')
    .option('--out <dir>', 'where results go (default bench/results)')
    .option('--profile <dir>', 'write a V8 CPU profile of each sync and poller process into this folder')
    .option('--pull10k', 'also run EwsPull with 10,000 mailboxes (saturates a 2-core machine)')
    .action(async (opts: { quick?: boolean; scenarios?: string; seed?: string; out?: string; profile?: string; pull10k?: boolean }) => {
      const runner = fileURLToPath(new URL('../../../bench/index.ts', import.meta.url));
      if (!existsSync(runner)) {
        io.err(`error: ${runner} is not there; the benchmark runs from a clone of the repository (npm install, then npm run bench)`);
        code = EXIT.FAILURE;
        return;
      }
      const args = [...(opts.quick ? ['--quick'] : []), ...(opts.scenarios ? ['--scenarios', opts.scenarios] : []), ...(opts.seed ? ['--seed', opts.seed] : []), ...(opts.out ? ['--out', opts.out] : []), ...(opts.profile ? ['--profile', opts.profile] : []), ...(opts.pull10k ? ['--pull10k'] : [])];
      const child = spawn(process.execPath, ['--import', 'tsx', runner, ...args], { stdio: 'inherit', env: io.env });
      code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? EXIT.FAILURE)));
    });

  return { program, exitCode: () => code };
}

/** Resolves on Ctrl-C or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

interface SandboxCliOptions {
  port: number;
  mailboxes: number;
  itemsPerMailbox: number;
  password?: string;
  seed: number;
  activity: number;
  hangingConnectionLimit: number;
  maxSubscriptionsPerMailbox: number;
  maxConcurrency: number;
  heartbeat: number;
  backends: number;
  latency: LatencyProfile;
  oauth?: string;
  oauthCaFile?: string;
  auth: string;
  delegates?: string;
}

function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max}; got "${value}"`);
    return n;
  };
}

function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} takes a number ≥ 0; got "${value}"`);
    return n;
  };
}

/** The version in package.json (src/ops/cli and dist/ops/cli both sit three folders below it). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function run(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const { program, exitCode } = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.OK : EXIT.INVALID;
    }
    io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.FAILURE;
  }
}
