import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { EwsError } from '../../../src/ews/ews-error.js';
import { SyncError } from '../../../src/shared/errors.js';
import { abortableSleep, isAborted, RetryAborted, retrying } from '../../../src/shared/retrier.js';

const policy = backoffPolicy({ initialMs: 10, maxMs: 20, jitter: 'none' });
const busy = (backOffMs?: number): EwsError => new EwsError('ErrorServerBusy', 'busy', { retriable: true, backOffMs });

describe('retrying (the one retry loop)', () => {
  it('tries again until the work succeeds, with the policy\'s waits', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await retrying(async () => {
      if (++calls < 4) throw busy();
      return 'done';
    }, { policy, onRetry: (_e, _a, d) => delays.push(d) });
    assert.equal(result, 'done');
    assert.deepEqual(delays, [10, 20, 20], 'doubling, capped at maxMs');
  });

  it('waits at least the BackOffMilliseconds the server asked for', async () => {
    const delays: number[] = [];
    let calls = 0;
    const started = Date.now();
    await retrying(async () => {
      if (++calls === 1) throw busy(150);
    }, { policy, onRetry: (_e, _a, d) => delays.push(d) });
    assert.ok(delays[0] >= 150, `waited ${delays[0]} ms`);
    assert.ok(Date.now() - started >= 150);
  });

  it('passes a failure it is not to retry through at once, and stops after maxRetries', async () => {
    const permanent = new SyncError('BAD', 'bad', { retriable: false });
    let calls = 0;
    await assert.rejects(retrying(async () => {
      calls++;
      throw permanent;
    }, { policy }), (e) => e === permanent);
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(retrying(async () => {
      calls++;
      throw busy();
    }, { policy: { ...policy, maxRetries: 2 } }), (e) => (e as EwsError).code === 'EWS_ErrorServerBusy');
    assert.equal(calls, 3, 'the first attempt and 2 retries');
  });

  it('an abort ends a wait at once as RetryAborted — never the work\'s failure — and starts no new attempt', async () => {
    const stop = new AbortController();
    let calls = 0;
    const started = Date.now();
    const run = retrying(async () => {
      calls++;
      throw busy(60_000);
    }, { policy, signal: stop.signal });
    setTimeout(() => stop.abort(new Error('stopping')), 50);
    await assert.rejects(run, (e) => isAborted(e) && e instanceof RetryAborted);
    assert.ok(Date.now() - started < 5_000, 'did not wait out the 60 s');
    assert.equal(calls, 1);
    await assert.rejects(retrying(async () => 'never', { policy, signal: stop.signal }), RetryAborted);
  });

  it('a failure caused by the stop itself (after the abort) is an abort too', async () => {
    const stop = new AbortController();
    const permanent = new SyncError('SOCKET_CLOSED', 'closed under us', { retriable: false });
    await assert.rejects(retrying(async () => {
      stop.abort();
      throw permanent;
    }, { policy, signal: stop.signal }), RetryAborted);
  });
});

describe('abortableSleep', () => {
  it('hundreds of waits on one signal: no MaxListenersExceededWarning, every wait ends on abort, finished waits leave nothing behind', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const lifecycle = new AbortController();
      const short = Array.from({ length: 200 }, () => abortableSleep(5, lifecycle.signal));
      await Promise.all(short);
      const long = Array.from({ length: 200 }, () => abortableSleep(60_000, lifecycle.signal).then(() => 'slept', (e: unknown) => (isAborted(e) ? 'aborted' : 'other')));
      await new Promise((r) => setImmediate(r));
      lifecycle.abort();
      assert.deepEqual(new Set(await Promise.all(long)), new Set(['aborted']));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
      await assert.rejects(abortableSleep(1, lifecycle.signal), (e) => isAborted(e), 'an aborted signal ends a new wait at once');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
