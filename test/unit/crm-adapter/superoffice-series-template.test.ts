import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateRowOf, type WrittenSeriesRow } from '../../../src/crm-adapter/superoffice/series.js';

const API = 1;
const USER = 7;
const HOUR = 3_600_000;
const onSlot = (): boolean => true;
const row = (id: number, title: string, updatedAt: number, updatedBy: number): WrittenSeriesRow => ({ appointmentId: id, start: id * 86_400_000, end: id * 86_400_000 + HOUR, title, updatedAt, updatedBy });

describe('the title of a SuperOffice series (its template row)', () => {
  it('is the one most of its rows share, even when the first occurrence was renamed', () => {
    assert.equal(templateRowOf([row(1, 'Renamed', 50, USER), row(2, 'Weekly', 10, USER), row(3, 'Weekly', 10, USER)], onSlot, API)?.title, 'Weekly');
  });

  it('on a tie, is what the sync last wrote to the series, not a user\'s edit of one occurrence', () => {
    // two rows left, one renamed by a user before the sync wrote the mailbox's new title
    assert.equal(templateRowOf([row(1, 'One occurrence', 20, USER), row(2, 'From Outlook', 30, API)], onSlot, API)?.title, 'From Outlook');
    assert.equal(templateRowOf([row(1, 'From Outlook', 30, API), row(2, 'One occurrence', 40, USER)], onSlot, API)?.title, 'From Outlook');
  });

  it('on a tie nobody synced, is the title left longest untouched', () => {
    assert.equal(templateRowOf([row(1, 'Renamed later', 40, USER), row(2, 'As created', 10, USER)], onSlot, API)?.title, 'As created');
  });

  it('counts a different length as a different shape', () => {
    const longer = { ...row(2, 'Weekly', 10, USER), end: 2 * 86_400_000 + 2 * HOUR };
    assert.equal(templateRowOf([row(1, 'Weekly', 10, USER), longer, row(3, 'Weekly', 10, USER)], onSlot, API)?.appointmentId, 1);
    assert.equal(templateRowOf([], onSlot, API), undefined);
  });

  it('counts a moved occurrence\'s vote: it keeps the series\' title', () => {
    // two occurrences renamed (the sync wrote them from Outlook), one moved, one as it was
    const moved = { ...row(3, 'Weekly', 30, API), start: 3 * 86_400_000 + HOUR / 2, end: 3 * 86_400_000 + HOUR * 1.5 };
    const rows = [row(1, 'Renamed 1', 40, API), row(2, 'Renamed 2', 41, API), moved, row(4, 'Weekly', 10, USER)];
    const chosen = templateRowOf(rows, (r) => r !== moved, API);
    assert.equal(chosen?.title, 'Weekly');
    assert.equal(chosen?.appointmentId, 4, 'the row on its occurrence represents the series');
  });

  it('on a tie, is the title a moved occurrence kept, not one a rename gave a row on its occurrence', () => {
    // every row but a moved one renamed, the renames written by the sync (from Outlook) last
    const moved = { ...row(4, 'Daily', 10, API), start: 4 * 86_400_000 + HOUR, end: 4 * 86_400_000 + 2 * HOUR };
    const rows = [row(1, 'Renamed 1', 40, API), row(2, 'Renamed 2', 41, API), row(3, 'Renamed 3', 42, API), moved];
    assert.equal(templateRowOf(rows, (r) => r !== moved, API)?.title, 'Daily');
  });
});
