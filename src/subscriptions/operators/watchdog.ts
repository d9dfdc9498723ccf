import { asyncScheduler, throwError, timeout, type MonoTypeOperatorFunction, type Observable, type SchedulerLike } from 'rxjs';
import { SyncError } from '../../shared/errors.js';

/** A streaming connection that said nothing (no event, no keep-alive) for too long. */
export class SilentConnectionError extends SyncError {
  constructor(ms: number) {
    super('STREAM_SILENT', `no keep-alive or event for ${ms} ms`, { retriable: true });
  }
}

/** Errors when `ms` pass without an emission (the first one included). */
export function watchdog<T>(ms: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<T> {
  return timeout<T, Observable<never>>({ each: ms, scheduler, with: () => throwError(() => new SilentConnectionError(ms)) });
}
