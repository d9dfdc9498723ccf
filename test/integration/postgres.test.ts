import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { postgresUrl, uniqueName } from '../helpers/services.js';

// The machine's PostgreSQL server (127.0.0.1:5432, trust auth, database test); a fresh schema per run.
describe('PostgreSQL', () => {
  const schema = uniqueName('ecs_test');
  const pool = new pg.Pool({ connectionString: postgresUrl(), max: 2 });
  before(async () => {
    await pool.query(`create schema ${schema}`);
  });
  after(async () => {
    await pool.query(`drop schema ${schema} cascade`);
    await pool.end();
  });

  it('round-trips rows, time zones and JSON through a fresh schema', async () => {
    await pool.query(`create table ${schema}.position (source text primary key, position text not null, saved_at timestamptz not null, detail jsonb)`);
    const savedAt = new Date('2026-03-29T00:30:00Z');
    await pool.query(`insert into ${schema}.position values ($1, $2, $3, $4)`, ['exchange:user0001@contoso.test', 'AQAAAA==', savedAt, { folder: 'calendar' }]);
    await pool.query(
      `insert into ${schema}.position values ($1, $2, $3, $4) on conflict (source) do update set position = excluded.position`,
      ['exchange:user0001@contoso.test', 'AgAAAA==', savedAt, { folder: 'calendar' }],
    );
    const { rows } = await pool.query(`select * from ${schema}.position`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].position, 'AgAAAA==');
    assert.equal((rows[0].saved_at as Date).toISOString(), savedAt.toISOString());
    assert.deepEqual(rows[0].detail, { folder: 'calendar' });
  });
});
