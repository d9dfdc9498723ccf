// The sync policy's item rules: which Outlook items reach the CRM, and as what.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockerOf, verdictOf } from '../../../src/handlers/item-policy.js';
import { heldBack, propertiesOf, towardsSide } from '../../../src/handlers/field-directions.js';
import { crmTypeOf, typeCategoryOf, typeToWrite } from '../../../src/handlers/category-types.js';
import { withTypeCategory } from '../../../src/shared/type-category.js';

describe('item policy', () => {
  const none = { include: [], exclude: [] };
  it('private: sync, skip or a blocker', () => {
    assert.deepEqual(verdictOf({ private: true }, { private: 'sync' }), { action: 'sync' });
    assert.deepEqual(verdictOf({ private: true }, { private: 'skip' }), { action: 'hide', rule: 'private' });
    assert.deepEqual(verdictOf({ private: true }, { private: 'busy' }), { action: 'blocker' });
    assert.deepEqual(verdictOf({ private: false }, { private: 'busy' }), { action: 'sync' });
  });
  it('categories: exclude wins over include, names compared without case, include empty means any', () => {
    const p = (include: string[], exclude: string[]) => ({ private: 'busy' as const, categories: { include, exclude } });
    assert.deepEqual(verdictOf({ categories: ['PERSONAL'] }, p([], ['Personal'])), { action: 'hide', rule: 'category' });
    assert.deepEqual(verdictOf({ categories: ['Customer visit', 'Personal'] }, p(['Customer visit'], ['Personal'])), { action: 'hide', rule: 'category' });
    assert.deepEqual(verdictOf({}, p(['Customer visit'], [])), { action: 'hide', rule: 'category' }, 'no category, include given');
    assert.deepEqual(verdictOf({ categories: ['customer visit'] }, p(['Customer visit'], [])), { action: 'sync' });
    assert.deepEqual(verdictOf({}, { private: 'sync', categories: none }), { action: 'sync' });
    assert.deepEqual(verdictOf({ private: true, categories: ['Personal'] }, p([], ['Personal'])), { action: 'hide', rule: 'category' }, 'an excluded item is not even a blocker');
  });
  it('a blocker has the time and "Private", nothing else; a series keeps its occurrences\' times only', () => {
    const blocker = blockerOf({
      subject: 'Doctor', body: 'Blood test', location: 'Practice', start: '2026-12-11T08:00:00Z', end: '2026-12-11T09:00:00Z', timeZone: 'Europe/Berlin', private: true,
      attendees: [{ email: 'x@y.test', role: 'required' }], categories: ['Health'], version: 'ck1', iCalUid: 'uid',
      recurrence: { rrule: 'FREQ=WEEKLY', exdates: [], exceptions: [{ originalStart: 'a', start: 'b', end: 'c', subject: 'Dentist', location: 'Elsewhere' }] },
    });
    assert.deepEqual(blocker, {
      subject: 'Private', private: true, start: '2026-12-11T08:00:00Z', end: '2026-12-11T09:00:00Z', timeZone: 'Europe/Berlin', version: 'ck1',
      recurrence: { rrule: 'FREQ=WEEKLY', exdates: [], exceptions: [{ originalStart: 'a', start: 'b', end: 'c' }] },
    });
  });
});

describe('field directions', () => {
  const outlook = { subject: 'S', body: 'B', location: 'L', start: '2026-12-11T08:00:00Z', end: '2026-12-11T09:00:00Z', allDay: false, private: true };
  it('a field held back towards a side keeps that side\'s value; one the side lacks is left out; a create still gets the time', () => {
    const directions = { body: 'to-crm', location: 'to-exchange', time: 'none', private: 'two-way' } as const;
    assert.deepEqual(heldBack(directions, 'crm'), ['location', 'time']);
    assert.deepEqual(heldBack(directions, 'exchange'), ['body', 'time']);
    assert.deepEqual(heldBack(undefined, 'crm'), []);
    const record = { subject: 'old', body: 'crm body', start: '2026-12-01T08:00:00Z', end: '2026-12-01T09:00:00Z' };
    assert.deepEqual(towardsSide(outlook, heldBack(directions, 'crm'), record), { subject: 'S', body: 'B', start: record.start, end: record.end, private: true });
    assert.deepEqual(towardsSide(outlook, heldBack(directions, 'crm')), { subject: 'S', body: 'B', start: outlook.start, end: outlook.end, allDay: false, private: true });
    assert.equal(towardsSide(outlook, []), outlook, 'nothing held: the same object');
    assert.deepEqual(propertiesOf(['time', 'status']), ['start', 'end', 'timeZone', 'timeZoneWindows', 'allDay', 'due', 'recurrence', 'done', 'status', 'percentComplete']);
  });
});

describe('category ↔ CRM type', () => {
  const map = [{ outlook: 'Customer visit', crm: 'Visit' }, { outlook: 'Phone', crm: 'Call' }];
  it('an item\'s first mapped category (in the file\'s order) is the type; with none, the default only where the record had a mapped type', () => {
    assert.equal(crmTypeOf(['Blue', 'phone', 'customer VISIT'], map), 'Visit');
    assert.equal(crmTypeOf(['Blue'], map), undefined);
    assert.equal(typeToWrite(['Phone'], map), 'Call');
    assert.equal(typeToWrite(['Blue'], map), undefined, 'a new record: the CRM\'s default anyway');
    assert.equal(typeToWrite(['Blue'], map, { crmType: 'call' }), '', 'the item lost its mapped category');
    assert.equal(typeToWrite(['Blue'], map, { crmType: 'Lunch' }), undefined, 'a type set in the CRM that nobody maps stays');
    assert.equal(typeToWrite(['Phone'], []), undefined, 'no mapping: the type is never written');
  });
  it('a record\'s type replaces the item\'s mapped categories; the others stay in their order', () => {
    assert.deepEqual(typeCategoryOf('call', map), { category: 'Phone', replaces: ['Customer visit', 'Phone'] });
    assert.deepEqual(withTypeCategory(['Blue', 'customer visit', 'Red'], typeCategoryOf('Call', map)), ['Blue', 'Red', 'Phone']);
    assert.deepEqual(withTypeCategory(['Blue', 'Phone'], typeCategoryOf('Lunch', map)), ['Blue']);
    assert.deepEqual(withTypeCategory(undefined, typeCategoryOf('Visit', map)), ['Customer visit']);
  });
});
