import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defer, Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { EwsError } from '../../../src/ews/ews-error.js';
import { SyncError } from '../../../src/shared/errors.js';
import { retryWithBackoff } from '../../../src/shared/retry-with-backoff.js';

const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
const policy = backoffPolicy({ initialMs: 10, maxMs: 40, multiplier: 2, jitter: 'none', maxRetries: 3 });
const transient = new SyncError('FLAKY', 'flaky', { retriable: true });

describe('retryWithBackoff (marbles)', () => {
  it('resubscribes after 10, 20, 40 ms, then gives up with the error', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, transient);
      const result = source.pipe(retryWithBackoff({ policy }));
      // attempts at 0, 1+10, 12+20, 33+40; the last one fails at 74
      expectObservable(result).toBe('74ms #', undefined, transient);
      expectSubscriptions(source.subscriptions).toBe(['^!', '11ms ^!', '32ms ^!', '73ms ^!']);
    });
  });

  it('passes a non-retriable error through at once', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const fatal = new SyncError('BAD', 'bad', { retriable: false });
      expectObservable(cold('a#', { a: 1 }, fatal).pipe(retryWithBackoff({ policy }))).toBe('a#', { a: 1 }, fatal);
    });
  });

  it("waits the server's BackOffMilliseconds, not its own schedule", () => {
    scheduler().run(({ expectObservable }) => {
      let calls = 0;
      const busy = new EwsError('ErrorServerBusy', 'busy', { retriable: true, backOffMs: 500 });
      const source = defer(() => new Observable<string>((s) => (++calls === 1 ? s.error(busy) : (s.next('ok'), s.complete()))));
      const result = source.pipe(retryWithBackoff({ policy, serverDelayOf: (e) => (e as EwsError).backOffMs, random: () => 0 }));
      expectObservable(result).toBe('500ms (a|)', { a: 'ok' });
    });
  });

  it('a success resets the attempt count', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // errors, recovers with a value, errors again: the second wait is 10 ms again, not 20
      let n = 0;
      const source = defer(() => {
        n++;
        return n === 2 ? cold('a#', { a: n }, transient) : n < 4 ? cold('#', undefined, transient) : cold('(b|)', { b: n });
      });
      expectObservable(source.pipe(retryWithBackoff({ policy }))).toBe('10ms a 10ms 20ms (b|)', { a: 2, b: 4 });
    });
  });

  it('reports each retry with the delay it will wait', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const seen: Array<[number, number]> = [];
      const result = cold('#', undefined, transient).pipe(retryWithBackoff({ policy, onRetry: (_e, attempt, ms) => seen.push([attempt, ms]) }));
      expectObservable(result).toBe('70ms #', undefined, transient);
      flush();
      assert.deepEqual(seen, [[1, 10], [2, 20], [3, 40]]);
    });
  });
});
