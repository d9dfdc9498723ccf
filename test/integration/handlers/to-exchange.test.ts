import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from '../../helpers/source-harness.js';
import { CRM_KINDS, startTwoWayRig } from '../../helpers/two-way-rig.js';

for (const crm of CRM_KINDS) {
  describe(`CRM → Exchange (to-exchange handler), both directions running (${crm === 'reference' ? 'reference CRM' : 'SuperOffice'})`, () => {
    it('an appointment created, changed and deleted in the CRM shows in the mailbox, with no echo back', async () => {
      const rig = await startTwoWayRig({ mailboxes: 3, itemsPerMailbox: 1, seed: 71, crm });
      const { sandbox } = rig;
      const mailbox = sandbox.store.byIndex(2)!;
      const calendarSubjects = (): string[] => sandbox.store.itemsIn(mailbox, 'calendar').map((i) => String(i.props.Subject)).sort();
      try {
        await waitUntil(() => rig.drained(), 20_000, 'the first sync applied');
        const before = calendarSubjects();
        const crmBefore = await rig.published('crm.changes');
        const ref = await rig.user.createAppointment(mailbox.address, 'Zebra & plan <Q1>', '2026-12-03T09:00:00Z', '2026-12-03T10:00:00Z');
        await waitUntil(() => calendarSubjects().includes('Zebra & plan <Q1>'), 15_000, 'the CRM appointment in the mailbox');
        const item = sandbox.store.itemsIn(mailbox, 'calendar').find((i) => i.props.Subject === 'Zebra & plan <Q1>')!;
        assert.equal(item.props.Start, '2026-12-03T09:00:00Z');
        assert.deepEqual([...item.extended.values()].map((v) => v.value), [ref], 'stamped with the CRM id');
        await rig.user.rename(ref, 'Zebra (moved)');
        await waitUntil(() => calendarSubjects().includes('Zebra (moved)'), 15_000, 'the update in the mailbox');
        // the item's own change comes back from Exchange: recognised, no second CRM record, no new user change
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal((await rig.user.list()).filter((r) => r.title.startsWith('Zebra')).length, 1, 'the item coming back from Exchange did not create a second CRM record');
        await rig.user.delete(ref);
        await waitUntil(() => JSON.stringify(calendarSubjects()) === JSON.stringify(before), 15_000, 'the delete in the mailbox');
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(await rig.published('crm.changes') - crmBefore, 3, 'only the three user changes went out; nothing echoed back');
        assert.ok(await rig.drained(), 'both handler groups have no lag');
      } finally {
        await rig.close();
      }
    });
  });
}
