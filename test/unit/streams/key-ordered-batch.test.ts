import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Limiter } from '../../../src/shared/limiter.js';
import { handleKeyOrdered } from '../../../src/streams/transport/key-ordered-batch.js';

interface Msg { key: string; offset: string }
const batch = (keys: string): Msg[] => [...keys].map((key, i) => ({ key, offset: String(100 + i) }));

/** A gate per message: the test opens them in the order it wants. */
function gated(messages: readonly Msg[]) {
  const opens = new Map<string, () => void>();
  const started: string[] = [];
  const gates = new Map(messages.map((m) => [m.offset, new Promise<void>((r) => opens.set(m.offset, r))]));
  return {
    started,
    handle: async (m: Msg): Promise<boolean> => {
      started.push(m.offset);
      await gates.get(m.offset);
      return true;
    },
    open: (offset: string) => opens.get(offset)!(),
  };
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
/** A report that notes the offset and lets the batch go on. */
const noteIn = (list: string[]) => async (m: Msg): Promise<boolean> => {
  list.push(m.offset);
  return true;
};

describe('a partition\'s batch in key order', () => {
  it('a slow key holds up only itself; each key in order; the committable offset only ever moves over a handled prefix', async () => {
    const messages = batch('ABAB'); // 100 A, 101 B, 102 A, 103 B
    const g = gated(messages);
    const reported: string[] = [];
    const run = handleKeyOrdered(messages, new Limiter(4).run.bind(new Limiter(4)), g.handle, noteIn(reported));
    await tick();
    assert.deepEqual(g.started, ['100', '101'], 'the first of each key at once, not the second of either');
    g.open('101');
    await tick();
    assert.deepEqual(g.started, ['100', '101', '103'], 'B goes on while A is slow');
    g.open('103');
    await tick();
    assert.deepEqual(reported, [], 'nothing is committable while 100 is under way');
    g.open('100');
    await tick();
    assert.deepEqual(reported, ['101'], '100 and 101 done: up to 101');
    assert.deepEqual(g.started, ['100', '101', '103', '102'], 'A\'s second only after its first');
    g.open('102');
    assert.equal(await run, true);
    assert.deepEqual(reported, ['101', '103']);
  });

  it('the limit counts the handlings under way', async () => {
    const messages = batch('ABC');
    const g = gated(messages);
    const limiter = new Limiter(2);
    const run = handleKeyOrdered(messages, limiter.run.bind(limiter), g.handle, async () => true);
    await tick();
    assert.deepEqual(g.started, ['100', '101']);
    g.open('101');
    await tick();
    assert.deepEqual(g.started, ['100', '101', '102']);
    g.open('100');
    g.open('102');
    assert.equal(await run, true);
  });

  it('a handling that says stop: nothing more begins, what is handled before it is still reported, and the batch says it did not finish', async () => {
    const messages = batch('AAB');
    const reported: string[] = [];
    const handled: string[] = [];
    const ok = await handleKeyOrdered(messages, (t) => t(), async (m) => {
      if (m.offset === '101') return false;
      handled.push(m.offset);
      return true;
    }, noteIn(reported));
    assert.equal(ok, false);
    assert.ok(!handled.includes('101'));
    assert.deepEqual(reported, ['100'], 'up to 100 only: 101 was not handled');
  });

  it('an error of one key stops the others and goes up once they are done; the prefix before it is reported', async () => {
    const messages = batch('AB');
    const reported: string[] = [];
    await assert.rejects(handleKeyOrdered(messages, (t) => t(), async (m) => {
      if (m.key === 'B') throw new Error('poison');
      return true;
    }, noteIn(reported)), /poison/);
    assert.deepEqual(reported, ['100']);
  });

  it('a report that says stop (the commit failed, the member left) stops the batch', async () => {
    const messages = batch('ABCD');
    const handled: string[] = [];
    const ok = await handleKeyOrdered(messages, new Limiter(1).run.bind(new Limiter(1)), async (m) => {
      handled.push(m.offset);
      return true;
    }, async () => false);
    assert.equal(ok, false);
    assert.ok(handled.length < 4, `handled ${handled.join()}`);
  });
});
