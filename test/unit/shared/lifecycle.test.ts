import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifecycle } from '../../../src/shared/lifecycle.js';
import { silentLogger } from '../../../src/shared/logger.js';

describe('Lifecycle', () => {
  it('stops components in reverse order of start, once', async () => {
    const order: string[] = [];
    const lifecycle = new Lifecycle({ logger: silentLogger(), shutdownTimeoutMs: 1_000 });
    lifecycle.add('database', () => void order.push('database'));
    lifecycle.add('transport', async () => { await new Promise((r) => setTimeout(r, 5)); order.push('transport'); });
    lifecycle.add('subscriptions', () => void order.push('subscriptions'));
    const [a, b] = await Promise.all([lifecycle.stop('requested'), lifecycle.stop('SIGTERM')]);
    assert.deepEqual(order, ['subscriptions', 'transport', 'database']);
    assert.equal(a, true);
    assert.equal(b, true);
  });

  it('a failing step is logged and the rest still stop', async () => {
    const order: string[] = [];
    const lifecycle = new Lifecycle({ logger: silentLogger(), shutdownTimeoutMs: 1_000 });
    lifecycle.add('a', () => void order.push('a'));
    lifecycle.add('b', () => { throw new Error('cannot'); });
    assert.equal(await lifecycle.stop('requested'), false);
    assert.deepEqual(order, ['a']);
  });

  it('bounds the whole shutdown by its deadline', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger(), shutdownTimeoutMs: 50 });
    let reachedFirst = false;
    lifecycle.add('first', () => void (reachedFirst = true));
    lifecycle.add('hangs', () => new Promise<void>(() => undefined));
    const started = Date.now();
    assert.equal(await lifecycle.stop('SIGTERM'), false);
    assert.ok(Date.now() - started < 5_000, 'did not wait for the hung component');
    assert.equal(reachedFirst, false, 'components after the deadline are abandoned');
  });

  it('a signal starts the shutdown and exits with its outcome; a second exits at once', async () => {
    const lifecycle = new Lifecycle({ logger: silentLogger(), shutdownTimeoutMs: 1_000 });
    let release!: () => void;
    lifecycle.add('slow', () => new Promise<void>((r) => (release = r)));
    const codes: number[] = [];
    const detach = lifecycle.handleSignals((code) => codes.push(code));
    try {
      process.emit('SIGTERM', 'SIGTERM');
      await new Promise((r) => setImmediate(r));
      process.emit('SIGINT', 'SIGINT');
      assert.deepEqual(codes, [130]);
      release();
      await lifecycle.stop('requested');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(codes, [130, 0]);
    } finally {
      detach();
    }
  });
});
