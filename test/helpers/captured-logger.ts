import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/shared/logger.js';

/** A logger at info whose JSON lines a test reads back; `loud()`: the lines at info or above. */
export function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; loud: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  return { logger: createLogger({ level: 'info', destination: stream }), lines, loud: () => lines.filter((l) => Number(l.level) >= 30) };
}
