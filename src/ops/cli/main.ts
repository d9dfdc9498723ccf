import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_CONFIG_FILE, describeConfig, loadConfig } from '../../config/index.js';
import { ConfigError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { EXIT } from '../exit-codes.js';
import { startService } from '../service.js';

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
  const program = new Command('exchange-crm-sync')
    .description('Two-way, event-driven synchronisation between Exchange mailboxes (EWS) and a CRM, through Kafka.')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('validate-config')
    .description('check a configuration file; prints a summary (exit 0) or every problem (exit 2)')
    .argument('[file]', 'the configuration file', DEFAULT_CONFIG_FILE)
    .action((file: string) => {
      try {
        const { config, warnings } = loadConfig(file, io.env, { requireSecrets: false });
        io.out(`${file}: valid`);
        for (const line of describeConfig(config)) io.out(`  ${line}`);
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
    .action(async (opts: { config: string }) => {
      let loaded;
      try {
        loaded = loadConfig(opts.config, io.env, { requireSecrets: true });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        for (const p of err.problems) io.err(p);
        code = EXIT.INVALID;
        return;
      }
      const logger = createLogger({ level: loaded.config.ops.logLevel });
      for (const w of loaded.warnings) logger.warn({ event: 'config.warning' }, w);
      logger.info({ event: 'config.loaded', file: loaded.config.file, summary: describeConfig(loaded.config) }, 'configuration loaded');
      const service = await startService(loaded.config, logger);
      service.lifecycle.handleSignals();
      logger.info({ event: 'service.started' }, 'exchange-crm-sync running; Ctrl-C (SIGINT) or SIGTERM stops it');
      // Runs until a signal; handleSignals exits the process after an ordered shutdown.
      await new Promise<never>(() => undefined);
    });

  return { program, exitCode: () => code };
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
