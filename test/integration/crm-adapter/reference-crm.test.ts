// The CRM port contract on the reference CRM, on the machine's PostgreSQL and on embedded
// PGlite (what `npm start` uses).
import { initReferenceCrm, ReferenceCrm, seedDemoAssociates } from '../../../src/crm-adapter/index.js';
import { PgDatabase, PgliteDatabase, type Database } from '../../../src/state/index.js';
import { describeCrmPortContract } from '../../helpers/crm-port-contract.js';
import { referenceCrmUser } from '../../helpers/reference-crm-user.js';
import { postgresUrl, uniqueName } from '../../helpers/services.js';

const associates = ['ann@contoso.test', 'bob@contoso.test'];

async function referenceCrm(db: Database, schema: string, drop: () => Promise<void>) {
  await initReferenceCrm(db, schema);
  await seedDemoAssociates(db, schema, associates);
  return { port: new ReferenceCrm(db, schema), user: referenceCrmUser(db, schema), associates, close: drop };
}

describeCrmPortContract('reference CRM on PostgreSQL', async () => {
  const db = new PgDatabase(postgresUrl());
  const schema = uniqueName('crm');
  return referenceCrm(db, schema, async () => {
    await db.query(`drop schema ${schema} cascade`);
    await db.close();
  });
});

describeCrmPortContract('reference CRM on PGlite (embedded)', async () => {
  const db = await PgliteDatabase.open(null);
  return referenceCrm(db, 'crm', () => db.close());
});
