export { loadConfig, DEFAULT_CONFIG_FILE, type LoadedConfig, type LoadConfigOptions } from './load-config.js';
export { describeConfig } from './describe-config.js';
export { SETTINGS, type SettingSpec } from './config-spec.js';
export { FIELD_DIRECTIONS, SYNC_DIRECTIONS, SYNCED_FIELDS } from './setting-kinds.js';
export type * from './config-types.js';
