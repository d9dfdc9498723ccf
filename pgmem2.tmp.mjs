import { PGlite } from '@electric-sql/pglite';
import { mkdtempSync } from 'node:fs';
const small = process.argv[2] === 'small';
const opts = small ? { startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] } : {};
const dirs = [mkdtempSync('/tmp/pgm-'), mkdtempSync('/tmp/pgm-')];
if (process.argv[3] === 'init') {
  for (const d of dirs) { const db = await PGlite.create(d, opts); await db.exec('create table t (id serial primary key, v text); insert into t (v) select repeat(\'x\', 200) from generate_series(1, 20000);'); await db.close(); }
  console.log(dirs.join(' '));
} else {
  const dbs = [];
  for (const d of process.argv.slice(3)) { const db = await PGlite.create(d, opts); await db.query('select count(*) from t'); dbs.push(db); }
  global.gc?.();
  const m = process.memoryUsage();
  console.log(process.argv[2], 'reopen: rss MiB', Math.round(m.rss / 2**20), 'external MiB', Math.round(m.external / 2**20));
}
