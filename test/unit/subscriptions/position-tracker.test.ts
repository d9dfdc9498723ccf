import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { once, PositionTracker } from '../../../src/subscriptions/position-tracker.js';

describe('PositionTracker', () => {
  it('saves a batch position only when it and every earlier batch are fully acked', async () => {
    const saved: string[] = [];
    const tracker = new PositionTracker(async (p) => void saved.push(p), () => undefined);
    const a = tracker.addBatch('S1', 2);
    const b = tracker.addBatch('S2', 1);
    b();
    await tracker.drained();
    assert.deepEqual(saved, [], 'S2 waits for S1');
    a();
    await tracker.drained();
    assert.deepEqual(saved, []);
    a();
    await tracker.drained();
    assert.deepEqual(saved, ['S2'], 'both done: only the newest position is written');
    assert.equal(tracker.outstanding, 0);
  });

  it('an empty batch is saveable at once, in order', async () => {
    const saved: string[] = [];
    const tracker = new PositionTracker(async (p) => void saved.push(p), () => undefined);
    const a = tracker.addBatch('S1', 1);
    tracker.addBatch('S2', 0);
    await tracker.drained();
    assert.deepEqual(saved, []);
    a();
    await tracker.drained();
    assert.deepEqual(saved, ['S2']);
  });

  it('saves are serialised; a failed save is reported and the next one goes on', async () => {
    const saved: string[] = [];
    const errors: unknown[] = [];
    let fail = true;
    const tracker = new PositionTracker(async (p) => {
      await new Promise((r) => setTimeout(r, 5));
      if (fail) {
        fail = false;
        throw new Error('db down');
      }
      saved.push(p);
    }, (e) => errors.push(e));
    tracker.addBatch('S1', 0);
    tracker.addBatch('S2', 0);
    await tracker.drained();
    assert.equal(errors.length, 1);
    assert.deepEqual(saved, ['S2']);
  });

  it('once() makes an ack idempotent', () => {
    let n = 0;
    const ack = once(() => n++);
    ack();
    ack();
    assert.equal(n, 1);
  });
});
