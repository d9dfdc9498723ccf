import assert from 'node:assert/strict';
import { it } from 'node:test';
import { exchangeShapeOf, releasedSince } from '../../../src/handlers/exchange-shape.js';

it('an item is written from its record again only when a field it was written without now travels, or the type pairs changed', () => {
  const heldLocation = exchangeShapeOf(['location'], []);
  const none = exchangeShapeOf([], []);
  assert.equal(releasedSince(heldLocation, none), true, 'location let through');
  assert.equal(releasedSince(none, heldLocation), false, 'a field now held back: the item keeps what it has');
  assert.equal(releasedSince(heldLocation, exchangeShapeOf(['location', 'body'], [])), false);
  assert.equal(releasedSince(none, exchangeShapeOf([], [{ outlook: 'Phone', crm: 'Phone call' }])), true, 'a pair added');
  assert.equal(releasedSince(exchangeShapeOf([], [{ outlook: 'Phone', crm: 'Call' }]), exchangeShapeOf([], [{ outlook: 'phone', crm: 'call' }])), false, 'case is no change');
  assert.equal(releasedSince(undefined, none), false, 'no shape saved (made from the item): nothing known to differ');
  assert.equal(releasedSince(exchangeShapeOf(['body', 'location'], []), exchangeShapeOf(['location', 'body'], [])), false, 'order is no change');
});
