import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleWithRetries } from '../../../src/streams/transport/handle-with-retries.js';
import type { ConsumerOptions, IncomingMessage } from '../../../src/streams/transport/transport.js';

const message: IncomingMessage = { topic: 't', partition: 0, offset: '7', key: 'k', value: '{}', headers: {}, timestamp: 0 };
const options = (handle: ConsumerOptions['handle']): ConsumerOptions => ({ groupId: 'g', topics: ['t'], concurrency: 1, handle });
const notAMember = (): Error => Object.assign(new Error('The coordinator is not aware of this member'), { type: 'UNKNOWN_MEMBER_ID' });

describe('handleWithRetries', () => {
  it('keeps the group told while a slow handler runs (a request to a slow Exchange must not cost the membership)', { timeout: 30_000 }, async () => {
    let beats = 0;
    const handled = await handleWithRetries(options(async () => {
      // the handler takes as long as it takes for the group to be told twice (10 s at most)
      for (let waited = 0; beats < 2 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    }), message, { wait: async () => void beats++, stopped: () => false, keepAliveMs: 20 });
    assert.equal(handled, true);
    assert.ok(beats >= 2, `told the group ${beats} times while handling`);
  });

  it('when the member was removed from the group, the failing message is given up uncommitted, not retried for ever', { timeout: 30_000 }, async () => {
    let attempts = 0;
    const handled = await handleWithRetries(options(async () => {
      attempts++;
      throw new Error('Exchange did not answer in time');
    }), message, { wait: async () => { throw notAMember(); }, stopped: () => false, keepAliveMs: 60_000 });
    assert.equal(handled, false);
    assert.equal(attempts, 1, 'no second attempt after the heartbeat said we are out of the group');
  });

  it('a heartbeat failing during a handler that then fails: given up after that attempt', { timeout: 30_000 }, async () => {
    let attempts = 0;
    let beats = 0;
    const handled = await handleWithRetries(options(async () => {
      attempts++;
      for (let waited = 0; beats < 1 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      throw new Error('Exchange did not answer in time');
    }), message, { wait: async () => { beats++; throw notAMember(); }, stopped: () => false, keepAliveMs: 20 });
    assert.equal(handled, false);
    assert.equal(attempts, 1);
  });
});
