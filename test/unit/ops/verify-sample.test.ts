import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Disagreement, MailboxVerdict } from '../../../src/ops/verify.js';
import { VerifySample } from '../../../src/ops/verify-sample.js';
import { silentLogger } from '../../../src/shared/logger.js';

const missing: Disagreement = { kind: 'missing', towards: 'crm', folder: 'calendar', itemId: 'QUFNa0k6Mjo4', detail: 'in the mailbox, no CRM record stands for it' };

function rig(mailboxes: string[], perRound = 2) {
  let clock = 0;
  let inFlight = 0;
  const apart = new Map<string, Disagreement[]>();
  const compared: string[] = [];
  const registry = new Registry();
  const sample = new VerifySample({
    verify: async (mailbox): Promise<MailboxVerdict> => {
      compared.push(mailbox);
      return { mailbox, items: 3, records: 3, disagreements: apart.get(mailbox) ?? [] };
    },
    mailboxes: () => mailboxes, perRound, intervalMs: 60_000, inFlight: async () => inFlight, registry, logger: silentLogger(), now: () => clock,
  });
  const round = async (): Promise<void> => {
    await sample.round();
    clock += 60_000;
  };
  return { sample, apart, compared, registry, round, setInFlight: (n: number) => (inFlight = n) };
}

describe('VerifySample (verify on its own, a few mailboxes a round)', () => {
  it('goes round robin, a few mailboxes a round', async () => {
    const r = rig(['a', 'b', 'c', 'd', 'e']);
    for (let i = 0; i < 3; i++) await r.round();
    assert.deepEqual(r.compared, ['a', 'b', 'c', 'd', 'e', 'a']);
    assert.equal(r.sample.report().checked, 6);
  });

  it('believes a difference seen twice a round apart; compares that mailbox again first; forgets it when the sides agree again', async () => {
    const r = rig(['a', 'b', 'c', 'd'], 1);
    r.apart.set('b', [missing]);
    await r.round(); // a
    await r.round(); // b: seen once — perhaps a change on its way
    assert.equal(r.sample.report().divergences.length, 0);
    await r.round(); // b again first: seen twice
    assert.deepEqual(r.compared, ['a', 'b', 'b']);
    const report = r.sample.report();
    assert.deepEqual(report.divergences.map((d) => [d.mailbox, d.kind, d.itemId]), [['b', 'missing', 'QUFNa0k6Mjo4']]);
    assert.equal(report.counts.missing, 1);
    assert.match(await r.registry.metrics(), /ecs_verify_divergences\{kind="missing"\} 1/);
    r.apart.delete('b');
    await r.round(); // b again: agrees
    assert.equal(r.sample.report().divergences.length, 0);
    assert.match(await r.registry.metrics(), /ecs_verify_divergences\{kind="missing"\} 0/);
  });

  it('a difference that comes and goes (a change on its way) is never believed', async () => {
    const r = rig(['a'], 1);
    r.apart.set('a', [missing]);
    await r.round();
    r.apart.delete('a');
    await r.round();
    r.apart.set('a', [missing]);
    await r.round();
    assert.equal(r.sample.report().divergences.length, 0);
  });

  it('while changes are in flight a difference waits for them, up to ten minutes', async () => {
    const r = rig(['a'], 1);
    r.apart.set('a', [missing]);
    r.setInFlight(40);
    for (let i = 0; i < 10; i++) await r.round();
    assert.equal(r.sample.report().divergences.length, 0, 'ten minutes with changes in flight');
    await r.round();
    assert.equal(r.sample.report().divergences.length, 1, 'then believed all the same');
  });
});
