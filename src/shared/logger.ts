import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { withoutUrlCredentials } from './url-credentials.js';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log line, so a secret that slips into
 * a logged object never reaches the log (belt and braces: we also never log secrets).
 */
export const REDACTED_PATHS: readonly string[] = [
  'password',
  '*.password',
  '*.*.password',
  '*.*.*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'sasl',
  '*.sasl',
  '*.*.sasl',
  'clientSecret',
  '*.clientSecret',
  '*.*.clientSecret',
  '*.*.*.clientSecret',
  '*.*.*.*.clientSecret',
  'accessToken',
  '*.accessToken',
];

export const REDACTED = '[redacted]';

export interface LoggerOptions {
  level?: LevelWithSilent;
  name?: string;
  destination?: DestinationStream;
  /** json, pretty (readable lines), or auto: pretty when stdout is a terminal. */
  format?: 'auto' | 'json' | 'pretty';
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return scrubbingChildren(pino(
    {
      name: options.name ?? 'exchange-crm-sync',
      level: options.level ?? 'info',
      redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
      // errors keep code/retriable/context in the log line
      serializers: { err: (err: Error) => scrubbed(pino.stdSerializers.err(err), 0) },
      // credentials inside a URL hide in plain strings, where no redaction path reaches
      hooks: { logMethod(args, method) { method.apply(this, args.map((a) => (typeof a === 'string' ? withoutUrlCredentials(a) : a)) as Parameters<typeof method>); } },
      formatters: { log: (object) => scrubbed(object, 0) as Record<string, unknown> },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    prettyWanted(options) ? pretty({ colorize: options.destination === undefined && process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,name', destination: options.destination ?? 1 } as never) : options.destination,
  ));
}

/** Child bindings bypass pino's formatters, so a child's (and its children's) are scrubbed as made. */
function scrubbingChildren(logger: Logger): Logger {
  const child = logger.child.bind(logger) as unknown as (bindings: Record<string, unknown>, options?: object) => Logger;
  const scrubbingChild = (bindings: Record<string, unknown>, options?: object): Logger => scrubbingChildren(child(scrubbed(bindings, 0), options));
  logger.child = scrubbingChild as unknown as Logger['child'];
  return logger;
}

/** A copy of a logged value with URL credentials removed from its strings (a few levels deep). */
function scrubbed<T>(value: T, depth: number): T {
  if (typeof value === 'string') return withoutUrlCredentials(value) as T;
  if (depth > 4 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubbed(v, depth + 1)) as T;
  let copy: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const clean = scrubbed(v, depth + 1);
    if (clean !== v) (copy ??= { ...(value as Record<string, unknown>) })[key] = clean;
  }
  return (copy ?? value) as T;
}

/** Readable lines for a person at a terminal; JSON for everything else (log shippers, files, tests). */
function prettyWanted(options: LoggerOptions): boolean {
  if (options.format === 'pretty') return true;
  if (options.format !== 'auto') return false;
  return options.destination === undefined && process.stdout.isTTY === true;
}

/** A logger that discards everything; for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
