import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, backoffPolicy } from '../../../src/shared/backoff.js';

describe('backoffDelay', () => {
  const exact = backoffPolicy({ initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 'none' });

  it('grows exponentially up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(exact, a)), [100, 200, 400, 800, 1_000, 1_000]);
  });

  it('full jitter stays within [0, d]', () => {
    const full = backoffPolicy({ ...exact, jitter: 'full' });
    assert.equal(backoffDelay(full, 3, undefined, () => 0), 0);
    assert.equal(backoffDelay(full, 3, undefined, () => 0.5), 200);
    assert.equal(backoffDelay(full, 3, undefined, () => 0.999999), 400);
  });

  it('equal jitter stays within [d/2, d]', () => {
    const equal = backoffPolicy({ ...exact, jitter: 'equal' });
    assert.equal(backoffDelay(equal, 3, undefined, () => 0), 200);
    assert.equal(backoffDelay(equal, 3, undefined, () => 0.999999), 400);
  });

  it("a server-given delay wins, even past our cap, and is never shortened", () => {
    assert.equal(backoffDelay(exact, 1, 2_000, () => 0), 2_000);
    assert.equal(backoffDelay(exact, 6, 5_000, () => 0), 5_000);
    const spread = backoffDelay(exact, 1, 2_000, () => 1);
    assert.ok(spread >= 2_000 && spread <= 2_200, `spread ${spread} should be 2000..2200`);
    // spread is capped at one second for long server delays
    assert.equal(backoffDelay(exact, 1, 60_000, () => 1), 61_000);
  });

  it('zero or missing server delay falls back to our schedule', () => {
    assert.equal(backoffDelay(exact, 2, 0), 200);
    assert.equal(backoffDelay(exact, 2, undefined), 200);
  });
});
