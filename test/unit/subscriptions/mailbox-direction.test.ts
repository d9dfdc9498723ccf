import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/shared/logger.js';
import { MailboxDirections, type DirectionSnapshot, type SyncDirection } from '../../../src/subscriptions/mailbox-direction.js';

describe('MailboxDirections: mailboxes turned towards Exchange', () => {
  it('compares with the directions a previous run left, once the mailboxes are listed; a new fallback counts for those nobody names', async () => {
    let named = new Map<string, SyncDirection>([['ann@x', 'two-way'], ['bob@x', 'off'], ['cy@x', 'to-exchange']]);
    const d = new MailboxDirections('two-way', async () => named, silentLogger());
    const seen: Array<{ mailboxes: string[]; snapshot: DirectionSnapshot }> = [];
    d.turnedTowardsExchange.subscribe((t) => seen.push(t));
    d.restore({ fallback: 'to-crm', named: { 'ann@x': 'to-crm', 'bob@x': 'off', 'cy@x': 'to-exchange' } });
    await d.refresh();
    assert.equal(seen.length, 0, 'nothing before the first listing (who follows the fallback is not known yet)');
    d.noteListed(['Ann@x', 'bob@x', 'cy@x', 'dee@x']);
    assert.deepEqual(seen.map((s) => s.mailboxes.sort()), [['ann@x', 'dee@x']], 'ann switched by name, dee by the fallback; bob still off, cy carried already');
    named = new Map([['ann@x', 'two-way'], ['bob@x', 'two-way'], ['cy@x', 'to-crm']]);
    await d.refresh();
    assert.deepEqual(seen[1].mailboxes, ['bob@x']);
    d.useFallback('to-crm');
    d.useFallback('two-way');
    assert.deepEqual(seen.slice(2).map((s) => s.mailboxes), [[], ['dee@x']], 'the fallback back to two-way: dee again');
    assert.deepEqual(seen.at(-1)!.snapshot, { fallback: 'two-way', named: { 'ann@x': 'two-way', 'bob@x': 'two-way', 'cy@x': 'to-crm' } });
  });

  it('without a remembered state nothing is caught up, and the state to remember is given', () => {
    const d = new MailboxDirections('two-way', undefined, silentLogger());
    const seen: string[][] = [];
    d.turnedTowardsExchange.subscribe((t) => seen.push(t.mailboxes));
    d.restore(undefined);
    d.noteListed(['ann@x']);
    assert.deepEqual(seen, [[]]);
  });
});
