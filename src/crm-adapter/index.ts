// The CRM behind its port: the reference CRM (SQL) and, next to it, SuperOffice's Web API.
export { initReferenceCrm, seedDemoAssociates, seedDemoSelection } from './crm-init.js';
export { referenceSchemaSql } from './reference-schema.js';
export { ReferenceCrm } from './reference-crm.js';
export { crmRef, parseCrmRef } from './crm-port.js';
export type {
  ActivityKind, CrmActivity, CrmAssociate, CrmChange, CrmChangeBatch, CrmChangeFeed, CrmChangeKind, CrmDirectory, CrmEntity, CrmPerson, CrmPersonLink, CrmPort, CrmRecordVersion, CrmRef, CrmSelection, CrmWriteOutcome,
} from './crm-port.js';
export { SuperOfficeCrm, SuperOfficeHttp, type SuperOfficeCredentials, type SuperOfficeCrmOptions } from './superoffice/index.js';
export type { MappedRecords } from './crm-port.js';
export { openCrm, openCrmForReading, type Crm, type OpenCrmOptions, type OpenedCrm } from './open-crm.js';
