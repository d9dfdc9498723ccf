import assert from 'node:assert/strict';
import { it } from 'node:test';
import { readDirection } from '../../../src/crm-adapter/superoffice/user-directions.js';

it('a direction reads as an administrator types or picks it; empty says nothing; a yes/no field\'s no is off', () => {
  assert.equal(readDirection('to-crm'), 'to-crm');
  assert.equal(readDirection('To CRM'), 'to-crm');
  assert.equal(readDirection(' TO_EXCHANGE '), 'to-exchange');
  assert.equal(readDirection('Two way'), 'two-way');
  assert.equal(readDirection('Off'), 'off');
  assert.equal(readDirection(''), 'unset');
  assert.equal(readDirection(null), 'unset');
  assert.equal(readDirection(false), 'off');
  assert.equal(readDirection(true), 'unset');
  assert.equal(readDirection('sideways'), 'unreadable');
  assert.equal(readDirection('to crm please'), 'unreadable');
});
