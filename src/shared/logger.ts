import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

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
  return pino(
    {
      name: options.name ?? 'exchange-crm-sync',
      level: options.level ?? 'info',
      redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
      // errors keep code/retriable/context in the log line
      serializers: { err: pino.stdSerializers.err },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    prettyWanted(options) ? pretty({ colorize: options.destination === undefined && process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,name', destination: options.destination ?? 1 } as never) : options.destination,
  );
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
