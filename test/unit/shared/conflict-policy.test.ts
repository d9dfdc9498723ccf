import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exchangeWins } from '../../../src/handlers/conflict-policy.js';

describe('conflict policy', () => {
  it('exchange-wins and crm-wins ignore the times', () => {
    assert.equal(exchangeWins('exchange-wins', '2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z'), true);
    assert.equal(exchangeWins('crm-wins', '2026-06-01T00:00:00Z', '2026-01-01T00:00:00Z'), false);
  });

  it('last-writer-wins: the later edit wins, compared to the second (Exchange keeps no more)', () => {
    assert.equal(exchangeWins('last-writer-wins', '2026-12-01T10:00:05Z', '2026-12-01T10:00:04.900Z'), true);
    assert.equal(exchangeWins('last-writer-wins', '2026-12-01T10:00:05Z', '2026-12-01T10:00:06.100Z'), false);
  });

  it('last-writer-wins: a tie within one second, or an unknown time, goes to Exchange', () => {
    assert.equal(exchangeWins('last-writer-wins', '2026-12-01T10:00:05Z', '2026-12-01T10:00:05.999Z'), true);
    assert.equal(exchangeWins('last-writer-wins', undefined, '2026-12-01T10:00:05Z'), true);
  });
});
