// The sandbox's Graph answers against Microsoft's v1.0 metadata: events (single, a series
// master with its exceptions expanded, an occurrence, an exception), instances, a delta page
// and translateExchangeIds — every property declared on its type, every value
// of its declared shape. A property the sandbox invents, or a value in the wrong form, fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OAuthCredentials } from '../../../src/ews/index.js';
import { GraphHttp, STAMP_PROPERTY_ID } from '../../../src/graph/index.js';
import { itemIdOf } from '../../../src/sandbox/ids.js';
import { startSandbox } from '../../../src/sandbox/index.js';
import { GraphMetadata, graphMetadataMissing } from '../../helpers/graph-csdl.js';

describe('the sandbox\'s Graph answers against the v1.0 metadata', () => {
  it('events, series, instances, a delta page and translated ids: only declared properties, each of its declared shape', { skip: graphMetadataMissing }, async () => {
    const metadata = new GraphMetadata();
    // the checker itself catches what it must
    assert.deepEqual(metadata.problems({ id: 'x', subject: 'a', madeUp: 1 }, 'graph.event'), ['$.madeUp: not a property of graph.event']);
    assert.deepEqual(metadata.problems({ id: 'x', showAs: 'sleeping' }, 'graph.event'), ['$.showAs: "sleeping" is not a member of graph.freeBusyStatus']);
    assert.deepEqual(metadata.problems({ id: 'x', recurrence: { pattern: { interval: null } } }, 'graph.event'), ['$.recurrence.pattern.interval: null, but not nullable']);

    const apps = [{ tenant: 'contoso', clientId: 'sync', clientSecret: 'secret' }];
    const sandbox = await startSandbox({ mailboxes: 1, itemsPerMailbox: 6, seed: 12, oauth: { apps }, graph: true });
    const tokens = sandbox.tokens!;
    const http = new GraphHttp({
      url: sandbox.graph!.url, ca: tokens.ca, timeoutMs: 10_000,
      tokens: new OAuthCredentials({ settings: { authority: tokens.authority('contoso'), clientId: 'sync', clientSecret: 'secret', scope: 'https://graph.microsoft.com/.default' }, ca: tokens.ca }),
    });
    const user = '/users/user0001@contoso.test';
    const problems: string[] = [];
    const check = (what: string, value: unknown, type: string): void => {
      problems.push(...metadata.problems(value, type).map((p) => `${what} ${p}`));
    };
    try {
      const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 2 * 86_400_000;
      const at = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '');
      const series = (await http.call('POST', `${user}/events`, {
        body: {
          subject: 'Weekly', start: { dateTime: at(day + 9 * 3_600_000), timeZone: 'W. Europe Standard Time' }, end: { dateTime: at(day + 10 * 3_600_000), timeZone: 'W. Europe Standard Time' },
          recurrence: { pattern: { type: 'daily', interval: 1 }, range: { type: 'numbered', startDate: at(day).slice(0, 10), numberOfOccurrences: 4 } },
          singleValueExtendedProperties: [{ id: STAMP_PROPERTY_ID, value: 'appointment:1' }],
        },
      })).body as { id: string };
      check('POST series', series, 'graph.event');
      const instances = (await http.call('GET', `${user}/events/${encodeURIComponent(series.id)}/instances?startDateTime=${at(day)}Z&endDateTime=${at(day + 5 * 86_400_000)}Z`)).body as { value: Array<{ id: string }> };
      assert.equal(instances.value.length, 4);
      check('instances', instances.value, 'Collection(graph.event)');
      check('PATCH occurrence', (await http.call('PATCH', `${user}/events/${encodeURIComponent(instances.value[1].id)}`, { body: { subject: 'Moved', start: { dateTime: at(day + 86_400_000 + 11 * 3_600_000), timeZone: 'UTC' }, end: { dateTime: at(day + 86_400_000 + 12 * 3_600_000), timeZone: 'UTC' } } })).body, 'graph.event');
      assert.equal((await http.call('DELETE', `${user}/events/${encodeURIComponent(instances.value[2].id)}`)).status, 204);
      const master = (await http.call('GET', `${user}/events/${encodeURIComponent(series.id)}?$expand=singleValueExtendedProperties($filter=id eq '${STAMP_PROPERTY_ID}'),exceptionOccurrences`)).body as { cancelledOccurrences: string[]; exceptionOccurrences: unknown[] };
      assert.equal(master.cancelledOccurrences.length, 1);
      assert.equal(master.exceptionOccurrences.length, 1);
      check('GET series', master, 'graph.event');
      check('GET occurrence', (await http.call('GET', `${user}/events/${encodeURIComponent(instances.value[0].id)}`)).body, 'graph.event');
      const list = (await http.call('GET', `${user}/events?$top=50`)).body as { value: unknown[] };
      check('list', list.value, 'Collection(graph.event)');
      const delta = (await http.call('GET', `${user}/calendarView/delta?startDateTime=${at(day - 30 * 86_400_000)}Z&endDateTime=${at(day + 30 * 86_400_000)}Z`)).body as { value: unknown[] };
      assert.ok(delta.value.length > 0);
      check('delta', delta.value, 'Collection(graph.event)');
      const ids = (await http.call('POST', `${user}/translateExchangeIds`, { body: { inputIds: [itemIdOf(1, 1), 'nonsense'], sourceIdType: 'ewsId', targetIdType: 'restId' } })).body as { value: unknown[] };
      check('translateExchangeIds', ids.value, 'Collection(graph.convertIdResult)');
      assert.deepEqual(problems, []);
    } finally {
      http.close();
      await sandbox.close();
    }
  });
});
