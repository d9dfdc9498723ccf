// The CRM adapter's port (grows with the handlers).
export { initReferenceCrm, seedDemoAssociates } from './crm-init.js';
export { referenceSchemaSql } from './reference-schema.js';
export { SqlCrm } from './sql-crm.js';
export type { CrmPort, CrmActivity, CrmChange, CrmChangeFeed } from './crm-port.js';
