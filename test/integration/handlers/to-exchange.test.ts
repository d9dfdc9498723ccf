import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from '../../helpers/source-harness.js';
import { startTwoWayRig } from '../../helpers/two-way-rig.js';

describe('CRM → Exchange (to-exchange handler), both directions running', () => {
  it('a row inserted, updated and deleted in the CRM shows in the mailbox, with no echo back', async () => {
    const rig = await startTwoWayRig({ mailboxes: 3, itemsPerMailbox: 1, seed: 71 });
    const { db, crmSchema, sandbox } = rig;
    const mailbox = sandbox.store.byIndex(2)!;
    const calendarSubjects = (): string[] => sandbox.store.itemsIn(mailbox, 'calendar').map((i) => String(i.props.Subject)).sort();
    try {
      const before = calendarSubjects();
      const { rows } = await db.query<{ appointment_id: number }>(
        `insert into ${crmSchema}.appointment (associate_id, type, title, location, start_at, end_at, time_zone) values (2, 1, 'Zebra & plan <Q1>', 'Room 7', '2026-12-03T09:00:00Z', '2026-12-03T10:00:00Z', 'Europe/Berlin') returning appointment_id`,
      );
      const id = rows[0].appointment_id;
      await waitUntil(() => calendarSubjects().includes('Zebra & plan <Q1>'), 15_000, 'the CRM row in the mailbox');
      const item = sandbox.store.itemsIn(mailbox, 'calendar').find((i) => i.props.Subject === 'Zebra & plan <Q1>')!;
      assert.equal(item.props.Location, 'Room 7');
      assert.equal(item.props.Start, '2026-12-03T09:00:00Z');
      assert.deepEqual([...item.extended.values()].map((v) => v.value), [`appointment:${id}`], 'stamped with the CRM id');
      await db.query(`update ${crmSchema}.appointment set title = 'Zebra (moved)' where appointment_id = $1`, [id]);
      await waitUntil(() => calendarSubjects().includes('Zebra (moved)'), 15_000, 'the update in the mailbox');
      // the item's own change comes back from Exchange: recognised, no second CRM row, no new user change
      await new Promise((r) => setTimeout(r, 1_500));
      const budgetRows = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.appointment where title like 'Zebra%'`)).rows[0].n;
      assert.equal(budgetRows, 1, 'the item coming back from Exchange did not create a second CRM row');
      await db.query(`delete from ${crmSchema}.appointment where appointment_id = $1`, [id]);
      await waitUntil(() => JSON.stringify(calendarSubjects()) === JSON.stringify(before), 15_000, 'the delete in the mailbox');
      await new Promise((r) => setTimeout(r, 1_500));
      const userChanges = (await db.query<{ n: number }>(`select count(*)::int as n from ${crmSchema}.change_log where table_name = 'appointment' and record_id = $1 and origin = 'user'`, [id])).rows[0].n;
      assert.equal(userChanges, 3, 'only the three user changes; nothing echoed back as a user change');
      assert.ok(await rig.drained(), 'both handler groups have no lag');
    } finally {
      await rig.close();
    }
  });
});
