// Every Windows time zone round-trips: an appointment series written with an IANA zone (as
// the CRM holds it) gets that zone's Windows id in Exchange, and reads back with the same
// zone, times and rule. The series starts at 09:00 local on the first Monday of March 2027
// and repeats weekly ten times, so in zones with daylight saving it crosses a transition.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackoffGate, EwsClient } from '../../../src/ews/index.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.js';
import { formatUtc, ianaFromWindows, instantOfWallClock, WINDOWS_ZONE_IDS } from '../../../src/shared/time-zones.js';

const MAILBOX = 'user0001@contoso.test';

describe('time zones: every Windows zone, Exchange → fields → Exchange', () => {
  let sandbox: Sandbox;
  let exchange: EwsClient;
  before(async () => {
    sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 0 });
    exchange = new EwsClient({ settings: { url: sandbox.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 10_000 }, gate: new BackoffGate(), maxSockets: 8 });
  });
  after(async () => {
    await exchange.close();
    await sandbox.close();
  });

  it(`all ${WINDOWS_ZONE_IDS.length} zones keep their zone, times and rule`, async () => {
    const wrong: string[] = [];
    for (const windowsId of WINDOWS_ZONE_IDS) {
      const zone = ianaFromWindows(windowsId)!;
      const start = instantOfWallClock({ year: 2027, month: 3, day: 1, hour: 9, minute: 0, second: 0 }, zone);
      const fields = {
        subject: `09:00 in ${windowsId}`, start: formatUtc(start), end: formatUtc(start + 3_600_000), timeZone: zone,
        recurrence: { rrule: 'FREQ=WEEKLY;BYDAY=MO;COUNT=10', exdates: [], exceptions: [] },
      };
      const made = await exchange.createItem(MAILBOX, 'calendar', fields, `appointment:tz-${windowsId}`);
      const stored = sandbox.store.itemsIn(sandbox.store.byEmail(MAILBOX)!, 'calendar').find((i) => i.props.Subject === fields.subject);
      const [back] = await exchange.getItems(MAILBOX, 'calendar', [made.itemId]);
      const got = back?.item;
      const problems = [
        stored?.props.StartTimeZoneId !== undefined && stored.props.StartTimeZoneId !== windowsId ? `stored as ${String(stored.props.StartTimeZoneId)}` : '',
        got?.timeZoneWindows !== windowsId ? `Windows id ${String(got?.timeZoneWindows)}` : '',
        got?.timeZone !== zone ? `zone ${String(got?.timeZone)}` : '',
        got?.start !== fields.start || got?.end !== fields.end ? `times ${String(got?.start)}–${String(got?.end)}` : '',
        got?.recurrence?.rrule !== fields.recurrence.rrule ? `rule ${String(got?.recurrence?.rrule)}` : '',
      ].filter(Boolean);
      if (problems.length) wrong.push(`${windowsId} (${zone}): ${problems.join(', ')}`);
    }
    assert.deepEqual(wrong, []);
  });
});
