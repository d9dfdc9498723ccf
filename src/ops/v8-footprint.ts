import { setFlagsFromString } from 'node:v8';
import type { SyncConfig } from '../config/index.js';

/** Whether this process opens an embedded PostgreSQL (PGlite: PostgreSQL compiled to WebAssembly). */
export function embedsDatabase(config: SyncConfig): boolean {
  return config.crm.type === 'embedded' || config.state.type === 'embedded' || config.transport.type === 'embedded';
}

/** ops@footprint, with auto decided: small when a database or the log is embedded. */
export function footprintOf(config: SyncConfig): 'small' | 'fast' {
  return config.ops.footprint === 'auto' ? (embedsDatabase(config) ? 'small' : 'fast') : config.ops.footprint;
}

/**
 * How V8 trades memory for speed in the process `start` runs in (not in a test runner that
 * starts a service in-process: the flags are the whole process's, for good). Set before any
 * WebAssembly is compiled; an operator's own NODE_OPTIONS flag wins. Measured on npm start (20 demo mailboxes, RSS after 50 s): 344 MiB with V8's
 * defaults, 276 with WebAssembly on the baseline compiler, 248 with --optimize-for-size too.
 * Most of the difference is TurboFan re-compiling PGlite's hot functions on background threads:
 * its working memory stays in those threads' malloc arenas (~50 MiB) after it is freed. The
 * price is PGlite's SQL at about half the speed, which the embedded default can afford.
 */
export function applyV8Footprint(config: SyncConfig): 'small' | 'fast' {
  const own = process.env.NODE_OPTIONS ?? '';
  const footprint = footprintOf(config);
  if (footprint === 'small') {
    if (!/liftoff/.test(own)) setFlagsFromString('--liftoff-only');
    if (!/optimize-for-size/.test(own)) setFlagsFromString('--optimize-for-size');
  }
  return footprint;
}
