// The SuperOffice Web API simulator: what the SuperOffice adapter is tested and measured against.
export { startSuperOfficeSandbox, swaggerFiles, DEFAULT_API_USER, type SuperOfficeSandbox, type SuperOfficeSandboxOptions } from './superoffice-sandbox.js';
export { SwaggerValidator } from './swagger-validator.js';
export { SuperOfficeStore, type SoAppointment, type SoAssociate, type SoChange } from './store.js';
export { tzLocations, type TzLocation } from './time-zones.js';
