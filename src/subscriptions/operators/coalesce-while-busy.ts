import { asyncScheduler, concatMap, Observable, of, Subscription, timer, type OperatorFunction, type SchedulerLike } from 'rxjs';

/**
 * Runs `work` for incoming requests one at a time; requests that arrive while work is
 * scheduled or running are merged into one pending request, run when the current work
 * completes. `delayMs` waits a little before each run, because one user action fires
 * several events. Used per mailbox folder: many notifications, one SyncFolderItems.
 */
export function coalesceWhileBusy<T, R>(
  work: (request: T) => Observable<R>,
  merge: (pending: T, next: T) => T,
  delayMs = 0,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let pending: { value: T } | undefined;
      let active = false;
      let sourceComplete = false;
      const subscriptions = new Subscription();
      const kick = (): void => {
        if (active) return;
        if (!pending) {
          if (sourceComplete) subscriber.complete();
          return;
        }
        active = true;
        const start$ = delayMs > 0 ? timer(delayMs, scheduler) : of(0);
        subscriptions.add(
          start$
            .pipe(
              concatMap(() => {
                const request = pending!.value;
                pending = undefined;
                return work(request);
              }),
            )
            .subscribe({
              next: (r) => subscriber.next(r),
              error: (e: unknown) => subscriber.error(e),
              complete: () => {
                active = false;
                kick();
              },
            }),
        );
      };
      subscriptions.add(
        source.subscribe({
          next: (v) => {
            pending = pending ? { value: merge(pending.value, v) } : { value: v };
            kick();
          },
          error: (e: unknown) => subscriber.error(e),
          complete: () => {
            sourceComplete = true;
            if (!active && !pending) subscriber.complete();
          },
        }),
      );
      return subscriptions;
    });
}
