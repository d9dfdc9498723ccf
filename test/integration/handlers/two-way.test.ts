// Both directions at once, through the sandbox and PostgreSQL: conflicts under each policy,
// a delete against an edit, meetings across mailboxes, attendees linked to CRM persons,
// recurrence with deleted and modified occurrences, time zones, private items.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ews, ewsService } from '../../helpers/ews.js';
import { waitUntil } from '../../helpers/source-harness.js';
import { startTwoWayRig, type TwoWayRig } from '../../helpers/two-way-rig.js';
import type { ConflictPolicy } from '../../../src/config/index.js';

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function insertRow(rig: TwoWayRig, associateId: number, title: string, extra: Record<string, unknown> = {}): Promise<number> {
  const columns = { associate_id: associateId, type: 1, title, start_at: '2026-12-03T09:00:00Z', end_at: '2026-12-03T10:00:00Z', time_zone: 'Europe/Berlin', ...extra };
  const names = Object.keys(columns);
  const { rows } = await rig.db.query<{ appointment_id: number }>(
    `insert into ${rig.crmSchema}.appointment (${names.join(', ')}) values (${names.map((_, i) => `$${i + 1}`).join(', ')}) returning appointment_id`, Object.values(columns),
  );
  return rows[0].appointment_id;
}

async function row(rig: TwoWayRig, id: number): Promise<Record<string, unknown> | undefined> {
  return (await rig.db.query<Record<string, unknown>>(`select * from ${rig.crmSchema}.appointment where appointment_id = $1`, [id])).rows[0];
}

/** The mailbox item a CRM row is mapped to. */
async function itemOf(rig: TwoWayRig, crmId: number): Promise<{ mailbox: string; itemId: string } | undefined> {
  const { rows } = await rig.db.query<{ mailbox: string; item_id: string }>(`select mailbox, item_id from ${rig.stateSchema}.item_map where crm_id = $1 and not deleted`, [crmId]);
  return rows[0] ? { mailbox: rows[0].mailbox, itemId: rows[0].item_id } : undefined;
}


async function editInExchange(rig: TwoWayRig, mailbox: string, itemId: string, subject: string): Promise<void> {
  const service = ewsService(rig.sandbox.url, mailbox);
  const item = await ews.Appointment.Bind(service, new ews.ItemId(itemId));
  item.Subject = subject;
  await item.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
}

async function deleteInExchange(rig: TwoWayRig, mailbox: string, itemId: string): Promise<void> {
  const service = ewsService(rig.sandbox.url, mailbox);
  await service.DeleteItems([new ews.ItemId(itemId)], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
}

async function exchangeSubject(rig: TwoWayRig, mailbox: string, itemId: string): Promise<string | undefined> {
  try {
    const item = await ews.Appointment.Bind(ewsService(rig.sandbox.url, mailbox), new ews.ItemId(itemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]));
    return item.Subject;
  } catch {
    return undefined;
  }
}

/** A row synced to its item, both sides quiet. */
async function syncedRow(rig: TwoWayRig, title: string): Promise<{ id: number; mailbox: string; itemId: string }> {
  const id = await insertRow(rig, 1, title);
  let mapped: { mailbox: string; itemId: string } | undefined;
  await waitUntil(async () => !!(mapped = await itemOf(rig, id)) && (await rig.drained()), 20_000, `row ${id} in the mailbox`);
  await settle(500); // its echo from Exchange is in and recognised
  await waitUntil(() => rig.drained(), 20_000, 'quiet');
  return { id, ...mapped! };
}

/** Both sides edited while no handler runs: Exchange first, the CRM a second later (or the other way). */
async function conflict(rig: TwoWayRig, target: { id: number; mailbox: string; itemId: string }, order: 'exchange-first' | 'crm-first'): Promise<void> {
  await rig.pauseHandlers();
  const exchangeBefore = await rig.published('exchange.changes');
  const crmBefore = await rig.published('crm.changes');
  const editExchange = async (): Promise<void> => {
    await editInExchange(rig, target.mailbox, target.itemId, 'edited in Exchange');
    await waitUntil(async () => (await rig.published('exchange.changes')) > exchangeBefore, 15_000, 'the Exchange edit in the log');
  };
  const editCrm = async (): Promise<void> => {
    await rig.db.query(`update ${rig.crmSchema}.appointment set title = 'edited in the CRM' where appointment_id = $1`, [target.id]);
    await waitUntil(async () => (await rig.published('crm.changes')) > crmBefore, 15_000, 'the CRM edit in the log');
  };
  // Exchange keeps modification times to the second: 1.1 s apart, the later one is later
  if (order === 'exchange-first') {
    await editExchange();
    await settle(1_100);
    await editCrm();
  } else {
    await editCrm();
    await settle(1_100);
    await editExchange();
  }
  await rig.resumeHandlers();
  await waitUntil(() => rig.drained(), 20_000, 'both handlers done');
  await settle(800);
  await waitUntil(() => rig.drained(), 20_000, 'both handlers done after the echoes');
}

async function bothSides(rig: TwoWayRig, target: { id: number; mailbox: string; itemId: string }): Promise<{ crm: unknown; exchange: unknown }> {
  return { crm: (await row(rig, target.id))?.title, exchange: await exchangeSubject(rig, target.mailbox, target.itemId) };
}

describe('both directions at once', () => {
  for (const [policy, order, winner] of [
    ['exchange-wins', 'exchange-first', 'edited in Exchange'],
    ['crm-wins', 'crm-first', 'edited in the CRM'],
    ['last-writer-wins', 'exchange-first', 'edited in the CRM'],
    ['last-writer-wins', 'crm-first', 'edited in Exchange'],
  ] as Array<[ConflictPolicy, 'exchange-first' | 'crm-first', string]>) {
    it(`conflict policy ${policy}, ${order === 'exchange-first' ? 'the CRM edited last' : 'Exchange edited last'}: both sides end as "${winner}", the conflict logged and counted once`, { timeout: 90_000 }, async () => {
      const rig = await startTwoWayRig({ mailboxes: 2, seed: 91, conflict: policy });
      try {
        const target = await syncedRow(rig, 'before the conflict');
        await conflict(rig, target, order);
        assert.deepEqual(await bothSides(rig, target), { crm: winner, exchange: winner });
        assert.equal(rig.conflicts.length, 1, JSON.stringify(rig.conflicts));
        assert.equal(rig.conflicts[0].winner, winner.includes('Exchange') ? 'exchange' : 'crm');
        assert.equal(rig.conflicts[0].policy, policy);
        // quiet afterwards: no ping-pong between the two sides
        const messages = (await rig.published('exchange.changes')) + (await rig.published('crm.changes'));
        await settle(1_500);
        assert.equal((await rig.published('exchange.changes')) + (await rig.published('crm.changes')), messages, 'no further messages once settled');
      } finally {
        await rig.close();
      }
    });
  }

  it('a delete on one side wins over an edit on the other, both ways', { timeout: 90_000 }, async () => {
    const rig = await startTwoWayRig({ mailboxes: 2, seed: 92, conflict: 'crm-wins' });
    try {
      // deleted in Exchange, edited in the CRM meanwhile
      const a = await syncedRow(rig, 'deleted in Exchange');
      await rig.pauseHandlers();
      await deleteInExchange(rig, a.mailbox, a.itemId);
      await rig.db.query(`update ${rig.crmSchema}.appointment set title = 'edited' where appointment_id = $1`, [a.id]);
      await settle(1_000);
      // deleted in the CRM, edited in Exchange meanwhile
      const b = await (async () => {
        await rig.resumeHandlers();
        await waitUntil(() => rig.drained(), 20_000, 'drained');
        return syncedRow(rig, 'deleted in the CRM');
      })();
      await rig.pauseHandlers();
      await rig.db.query(`delete from ${rig.crmSchema}.appointment where appointment_id = $1`, [b.id]);
      await editInExchange(rig, b.mailbox, b.itemId, 'edited');
      await settle(1_000);
      await rig.resumeHandlers();
      await waitUntil(() => rig.drained(), 20_000, 'drained');
      await settle(1_000);
      await waitUntil(() => rig.drained(), 20_000, 'drained after echoes');
      assert.equal(await row(rig, a.id), undefined, 'the row of the item deleted in Exchange is gone');
      assert.equal(await exchangeSubject(rig, a.mailbox, a.itemId), undefined, 'the item deleted in Exchange did not come back');
      assert.equal(await row(rig, b.id), undefined, 'the row deleted in the CRM did not come back');
      assert.equal(await exchangeSubject(rig, b.mailbox, b.itemId), undefined, 'the item of the row deleted in the CRM is gone');
      const { rows } = await rig.db.query<{ n: number }>(`select count(*)::int as n from ${rig.crmSchema}.appointment where title in ('edited', 'deleted in Exchange', 'deleted in the CRM')`);
      assert.equal(rows[0].n, 0, 'no row was created again');
    } finally {
      await rig.close();
    }
  });
});
