import { PGlite } from '@electric-sql/pglite';
const db = await PGlite.create(process.argv[2]);
const r = await db.query(`select appointment_id, title, registered, updated, updated_count from crm.appointment where title like 'Before%'`).catch(async (e) => { console.log(String(e)); return db.query(`select column_name from information_schema.columns where table_name='appointment'`); });
console.log(JSON.stringify(r.rows));
