import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { runCli } from '../helpers/cli.js';
import { postgresUrl, uniqueName } from '../helpers/services.js';

describe('exchange-crm-sync crm init', () => {
  it('creates the reference CRM and state schemas on PostgreSQL, idempotently, with a working change log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-crm-'));
    const schema = uniqueName('crm');
    const state = uniqueName('state');
    const file = join(dir, 'c.xml');
    writeFileSync(file, `<configuration><calendar_sync><crm type="postgres" url="${postgresUrl()}" schema="${schema}" stateSchema="${state}"/></calendar_sync></configuration>`);
    const pool = new pg.Pool({ connectionString: postgresUrl(), max: 1 });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await runCli(['crm', 'init', '--config', file]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`CRM schema "${schema}" and state schema "${state}" are ready \\(postgres\\)`));
      }
      await pool.query(`insert into ${schema}.associate (name, email) values ('A', 'a@x.test')`);
      await pool.query(`insert into ${schema}.appointment (associate_id, type, title) values (1, 1, 'meeting')`);
      await pool.query(`update ${schema}.appointment set title = 'moved' where appointment_id = 1`);
      const { rows } = await pool.query(`select table_name, op, origin from ${schema}.change_log order by change_id`);
      assert.deepEqual(rows.map((r) => `${r.table_name}:${r.op}:${r.origin}`), ['associate:c:user', 'appointment:c:user', 'appointment:u:user']);
      const { rows: appt } = await pool.query(`select updated_count from ${schema}.appointment`);
      assert.equal(appt[0].updated_count, 1);
    } finally {
      await pool.query(`drop schema if exists ${schema} cascade; drop schema if exists ${state} cascade`);
      await pool.end();
    }
  });

  it('an unreachable database: exit 1 and a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-crm-'));
    const file = join(dir, 'c.xml');
    writeFileSync(file, '<configuration><calendar_sync><crm type="postgres" url="postgres://postgres@127.0.0.1:1/test"/></calendar_sync></configuration>');
    const r = await runCli(['crm', 'init', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ECONNREFUSED|connect/);
  });
});
