export { SuperOfficeCrm, type SuperOfficeCrmOptions } from './superoffice-crm.js';
export { SuperOfficeHttp, type SuperOfficeCredentials, type SuperOfficeHttpOptions } from './superoffice-http.js';
