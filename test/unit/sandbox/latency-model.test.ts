import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyModel } from '../../../src/sandbox/latency-model.js';
import { prng } from '../../../src/sandbox/prng.js';

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

describe('LatencyModel', () => {
  it('draws each operation from a log-normal with its median and 99th percentile; online is three times on premises; a seed repeats the draws', () => {
    const draw = (profile: 'on-premises' | 'online', op: string, seed = 7): number[] => {
      const model = new LatencyModel(profile, prng(seed));
      return Array.from({ length: 40_000 }, () => model.delayOf(op)).sort((a, b) => a - b);
    };
    const get = draw('on-premises', 'GetItem');
    assert.ok(Math.abs(percentile(get, 0.5) - 40) <= 2, `median ${percentile(get, 0.5)}`);
    assert.ok(Math.abs(percentile(get, 0.99) - 250) <= 25, `p99 ${percentile(get, 0.99)}`);
    assert.ok(get[0] >= 0);
    const online = draw('online', 'GetItem');
    assert.ok(Math.abs(percentile(online, 0.5) - 120) <= 5, `online median ${percentile(online, 0.5)}`);
    const create = draw('on-premises', 'CreateItem');
    assert.ok(percentile(create, 0.5) > percentile(get, 0.5), 'a write costs more than a read');
    assert.ok(Math.abs(percentile(draw('on-premises', 'SomethingElse'), 0.5) - 40) <= 2, 'an operation not named: the default');
    assert.deepEqual(draw('on-premises', 'GetItem', 3).slice(0, 50), draw('on-premises', 'GetItem', 3).slice(0, 50));
  });
});
