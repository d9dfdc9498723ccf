import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, Observable, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { backoffPolicy } from '../../../src/shared/backoff.js';
import { SyncError } from '../../../src/shared/errors.js';
import { coalesceWhileBusy } from '../../../src/subscriptions/operators/coalesce-while-busy.js';
import { planGroups } from '../../../src/subscriptions/operators/mailbox-groups.js';
import { reconnecting } from '../../../src/subscriptions/operators/reconnecting.js';
import { SilentConnectionError, watchdog } from '../../../src/subscriptions/operators/watchdog.js';

// Errors are compared by class and message (their stacks differ).
const normalise = (frames: unknown): unknown =>
  JSON.parse(JSON.stringify(frames, (_k, v: unknown) => (v instanceof Error ? { error: v.constructor.name, message: v.message } : v)));
const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => assert.deepEqual(normalise(actual), normalise(expected)));

describe('coalesceWhileBusy (marbles)', () => {
  it('runs one request at a time and merges those that arrive meanwhile into one', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      // work takes 5 ms and emits the merged request at its end
      const requests = hot('a-b-c---------d|', { a: 'a', b: 'b', c: 'c', d: 'd' });
      const result = requests.pipe(coalesceWhileBusy((r: string) => cold('-----(x|)', { x: r }), (p, n) => p + n));
      expectObservable(result).toBe('5ms a 4ms x 8ms (d|)', { a: 'a', x: 'bc', d: 'd' });
    });
  });

  it('waits delayMs before each run, collecting what comes in that time', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const requests = hot('ab---c|', { a: 'a', b: 'b', c: 'c' });
      const result = requests.pipe(coalesceWhileBusy((r: string) => cold('(x|)', { x: r }), (p, n) => p + n, 3));
      expectObservable(result).toBe('3ms x 4ms (y|)', { x: 'ab', y: 'c' });
    });
  });

  it('a request during work runs once the work is done', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const a = hot('aa|').pipe(coalesceWhileBusy((r: string) => cold('--(x|)', { x: r }), (p, n) => p + n));
      expectObservable(a).toBe('--x-(y|)', { x: 'a', y: 'a' });
    });
  });
});

describe('watchdog (marbles)', () => {
  it('errors after the given silence, and keeps quiet while messages flow', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-a-a|').pipe(watchdog(3))).toBe('-a-a-a|');
      expectObservable(cold('-a-----a|').pipe(watchdog(3))).toBe('-a--#', { a: 'a' }, new SilentConnectionError(3));
    });
  });
});

describe('reconnecting (marbles)', () => {
  const policy = backoffPolicy({ initialMs: 10, maxMs: 40, jitter: 'none', multiplier: 2 });

  it('reopens at once after a planned close, and after growing delays after failures', () => {
    scheduler().run(({ expectObservable }) => {
      const broken = new SyncError('SOCKET', 'cut', { retriable: true });
      let n = 0;
      const connection = new Observable<string>((s) => {
        n++;
        if (n === 1) { s.next('h'); s.complete(); }          // planned close: reopen at once
        else if (n <= 3) s.error(broken);                     // two failures: wait 10, then 20
        else { s.next('h'); }                                 // then it stays open
      });
      const result = connection.pipe(reconnecting({ policy }));
      expectObservable(result, '^ 100ms !').toBe('h 29ms h', { h: 'h' });
    });
  });

  it('a message resets the delay', () => {
    scheduler().run(({ expectObservable }) => {
      const broken = new SyncError('SOCKET', 'cut', { retriable: true });
      let n = 0;
      const connection = new Observable<number>((s) => {
        n++;
        s.next(n);
        s.error(broken);
      });
      // each attempt says something before failing, so each wait is the first one (10 ms)
      expectObservable(connection.pipe(reconnecting({ policy }), map((x) => x)), '^ 35ms !').toBe('a 9ms b 9ms c 9ms d', { a: 1, b: 2, c: 3, d: 4 });
    });
  });

  it('uses the server-given delay', () => {
    scheduler().run(({ expectObservable }) => {
      let n = 0;
      const busy = Object.assign(new SyncError('EWS_ErrorServerBusy', 'busy', { retriable: true }), { backOffMs: 50 });
      const connection = new Observable<string>((s) => (++n === 1 ? s.error(busy) : s.next('ok')));
      expectObservable(connection.pipe(reconnecting({ policy, serverDelayOf: (e) => (e as { backOffMs?: number }).backOffMs, random: () => 0 })), '^ 100ms !').toBe('50ms o', { o: 'ok' });
    });
  });

  it('never gives up on its own', () => {
    scheduler().run(({ expectObservable }) => {
      const result = throwError(() => new SyncError('X', 'x', { retriable: false })).pipe(reconnecting({ policy }));
      expectObservable(result, '^ 200ms !').toBe('');
    });
  });
});

describe('planGroups', () => {
  it('fills groups up to the maximum, in order', () => {
    const plan = planGroups(new Map(), ['a', 'b', 'c', 'd', 'e'], 2);
    assert.deepEqual([...plan.assignment], [['a', 0], ['b', 0], ['c', 1], ['d', 1], ['e', 2]]);
    assert.equal(plan.added.length, 5);
  });

  it('keeps members where they are, frees the places of removed ones and refills them', () => {
    const first = planGroups(new Map(), ['a', 'b', 'c', 'd'], 2);
    const second = planGroups(first.assignment, ['a', 'c', 'd', 'x', 'y'], 2);
    assert.deepEqual(second.removed, [{ mailbox: 'b', group: 0 }]);
    assert.deepEqual(second.added, [{ mailbox: 'x', group: 0 }, { mailbox: 'y', group: 2 }]);
    assert.equal(second.assignment.get('c'), 1);
  });

  it('never mixes keys (service accounts) in a group; an emptied group takes the next key that needs one', () => {
    const account: Record<string, string> = { a: 'A', b: 'B', c: 'A', d: 'B', e: 'A' };
    const plan = planGroups(new Map(), ['a', 'b', 'c', 'd', 'e'], 2, (m) => account[m]);
    assert.deepEqual([...plan.assignment], [['a', 0], ['b', 1], ['c', 0], ['d', 1], ['e', 2]]);
    const keyed = (assignment: ReadonlyMap<string, number>): Map<number, Set<string>> => {
      const keys = new Map<number, Set<string>>();
      for (const [m, g] of assignment) keys.set(g, (keys.get(g) ?? new Set()).add(account[m] ?? m[0].toUpperCase()));
      return keys;
    };
    assert.ok([...keyed(plan.assignment).values()].every((k) => k.size === 1));
    // group 1 (B) empties: a new A mailbox joins the A group with room, the next one takes the empty group
    account.f = 'A';
    account.g = 'A';
    const next = planGroups(plan.assignment, ['a', 'c', 'e', 'f', 'g'], 2, (m) => account[m]);
    assert.deepEqual(next.added, [{ mailbox: 'f', group: 2 }, { mailbox: 'g', group: 1 }]);
    assert.ok([...keyed(next.assignment).values()].every((k) => k.size === 1));
  });

  it('1,000 mailboxes at 200 per connection make 5 groups', () => {
    const plan = planGroups(new Map(), Array.from({ length: 1000 }, (_, i) => `m${i}`), 200);
    assert.equal(new Set(plan.assignment.values()).size, 5);
  });
});
