import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { checkStateIdentity, PgDatabase, StateOfAnotherSide } from '../../../src/state/index.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

// The machine's PostgreSQL; a fresh schema per run.
describe('the state records the Exchange organisation and the CRM it belongs to', () => {
  const db = new PgDatabase(postgresUrl());
  const schema = uniqueName('ident');
  after(async () => {
    await db.query(`drop schema if exists ${schema} cascade`);
    await db.close();
  });

  it('refuses another Exchange (naming both), keeps the state; re-baselines on request and forgets mappings and positions', async () => {
    await db.query(`create schema ${schema}`);
    await db.query(`create table ${schema}.item_map (item_id text)`);
    await db.query(`create table ${schema}.position (source text)`);
    await db.query(`insert into ${schema}.item_map values ('QUFNa0k6Mjo4')`);
    await db.query(`insert into ${schema}.position values ('exchange:user0002@contoso.test')`);
    assert.equal(await checkStateIdentity(db, schema, 'crm', 'reference:crm', false), 'recorded');
    assert.equal(await checkStateIdentity(db, schema, 'exchange', 'EWS at mail.contoso.com, domain contoso.com', false), 'recorded');
    assert.equal(await checkStateIdentity(db, schema, 'exchange', 'EWS at mail.contoso.com, domain contoso.com', false), 'same');
    await assert.rejects(checkStateIdentity(db, schema, 'exchange', 'the built-in sandbox 6cad', false), (err: unknown) => {
      assert.ok(err instanceof StateOfAnotherSide);
      assert.equal(err.code, 'STATE_OF_ANOTHER_EXCHANGE');
      assert.match(err.message, /belongs to the Exchange organisation EWS at mail\.contoso\.com, domain contoso\.com, not the built-in sandbox 6cad: .* start with --move-to-graph .* start with --rebaseline/);
      return true;
    });
    const count = async (table: string): Promise<number> => (await db.query<{ n: number }>(`select count(*)::int as n from ${schema}.${table}`)).rows[0].n;
    assert.equal(await count('item_map'), 1, 'a refusal changes nothing');
    assert.equal(await checkStateIdentity(db, schema, 'exchange', 'the built-in sandbox 6cad', true), 'rebaselined');
    assert.equal(await count('item_map'), 0);
    assert.equal(await count('position'), 0);
    assert.equal(await checkStateIdentity(db, schema, 'crm', 'reference:crm', false), 'same', 'the CRM stays the one recorded');
    assert.equal(await checkStateIdentity(db, schema, 'exchange', 'the built-in sandbox 6cad', false), 'same');
  });
});
