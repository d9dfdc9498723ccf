// The CRM adapter's port (grows with the handlers).
export { initReferenceCrm, seedDemoAssociates } from './crm-init.js';
export { referenceSchemaSql } from './reference-schema.js';
