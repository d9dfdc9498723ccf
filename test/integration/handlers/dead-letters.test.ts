// #17.2: one dead-letter shape for every stage, and a replay that sends each letter on its
// own way — or parks it again with the reason, never counting it as replayed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listDeadLetters, replayDeadLetters } from '../../../src/handlers/index.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { PgDatabase } from '../../../src/state/index.js';
import { deadLetterOf, exchangeChangeMessage } from '../../../src/streams/index.js';
import { EmbeddedTransport } from '../../../src/streams/transport/embedded-transport.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

describe('dead letters of every stage', () => {
  let db: PgDatabase;
  let transport: EmbeddedTransport;
  const schema = uniqueName('dlq');
  const dlq = 'exchange.changes.dlq';

  before(async () => {
    db = new PgDatabase(postgresUrl());
    transport = await EmbeddedTransport.open(db, schema, 1, silentLogger());
    await transport.ensureTopics(['exchange.changes', 'crm.changes', dlq]);
  });
  after(async () => {
    await transport.close();
    await db.query(`drop schema if exists ${schema} cascade`);
    await db.close();
  });

  it('a handler\'s letter goes back to its topic; an unreadable item is read again; what cannot be sent on is parked again with the reason', async () => {
    const item = { mailbox: 'user0001@contoso.test', folder: 'calendar', itemId: 'AAMkItem1' };
    await transport.publish(dlq, [
      deadLetterOf({ stage: 'handler', error: { code: 'POISON_MESSAGE', message: 'not an envelope' }, key: 'user0001@contoso.test', value: '{"poison":1}', original: { topic: 'exchange.changes', partition: 0, offset: '7', group: 'to-crm' } }),
      deadLetterOf({ stage: 'exchange-fetch', error: { responseCode: 'ErrorCorruptData', message: 'corrupt' }, key: item.mailbox, value: JSON.stringify(item), item }),
      deadLetterOf({ stage: 'crm-read', error: { code: 'CRM_BAD_RULE', message: 'a pattern the sync cannot read' }, key: 'user0002@contoso.test', value: '{}', crm: { record: 'appointment:series-4-2', position: '{"t":1}' } }),
      // a letter of an older version: no stage, no original topic, nothing to read it by
      { key: 'x', value: 'garbage', headers: { 'ecs-error-code': 'ERROR', 'ecs-error-message': 'old' } },
    ]);
    const listed = await listDeadLetters(transport, dlq, 'dlq-replay');
    assert.deepEqual(listed.map((l) => [l.stage, l.replayed]), [['handler', false], ['exchange-fetch', false], ['crm-read', false], ['unknown', false]]);
    assert.deepEqual(listed[1].item, item);
    assert.deepEqual(listed[2].record, { ref: 'appointment:series-4-2', position: '{"t":1}' });

    const asked: string[] = [];
    const outcome = await replayDeadLetters(transport, dlq, 'dlq-replay', {
      exchange: async (i) => {
        asked.push(i.itemId);
        return { topic: 'exchange.changes', message: exchangeChangeMessage({ mailbox: i.mailbox, folder: 'calendar', itemId: i.itemId, op: 'u', item: { subject: 'readable now', version: 'CK2' }, position: 'dlq-replay', positionKind: 'ews-syncstate', detectedAt: 1, now: 2 }) };
      },
      crm: async () => {
        throw new Error('still a pattern the sync cannot read');
      },
    });
    assert.equal(outcome.replayed, 2, 'the handler\'s letter and the item read again');
    assert.deepEqual(outcome.refused.map((r) => r.reason), ['read again, it still fails: still a pattern the sync cannot read', 'it names neither the message nor the item or record it is about']);
    assert.deepEqual(asked, ['AAMkItem1']);
    const sent = (await transport.browse('exchange.changes', 10)).map((m) => JSON.parse(m.value) as { subject?: string; after?: { subject?: string } } | { poison: number });
    assert.deepEqual(sent.map((e) => ('poison' in e ? 'poison' : e.after?.subject)), ['poison', 'readable now']);

    const after = await listDeadLetters(transport, dlq, 'dlq-replay');
    assert.deepEqual(after.map((l) => [l.stage, l.replayed, l.refused ?? '']), [
      ['handler', true, ''], ['exchange-fetch', true, ''],
      ['crm-read', false, 'read again, it still fails: still a pattern the sync cannot read'], ['unknown', false, 'it names neither the message nor the item or record it is about'],
    ], 'the refused letters are listed once, as their copies, not as replayed');

    // nothing fixed: the next replay refuses them again, and replays nothing
    const again = await replayDeadLetters(transport, dlq, 'dlq-replay', {});
    assert.equal(again.replayed, 0);
    assert.deepEqual(again.refused.map((r) => r.reason), ['reading the CRM record again needs the CRM configured here', 'it names neither the message nor the item or record it is about']);
    assert.equal((await listDeadLetters(transport, dlq, 'dlq-replay')).filter((l) => !l.replayed).length, 2);
  });
});
