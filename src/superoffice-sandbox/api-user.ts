/** The integration user the sync logs in as on the built-in SuperOffice simulator. */
export const DEFAULT_API_USER = 'ecs-sync';
