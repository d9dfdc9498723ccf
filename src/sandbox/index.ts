// The sandbox's port: start it, and the types a caller sees.
export { startSandbox, DEFAULT_LIMITS, HOSTILE_MODES, SERVICE_ACCOUNT, type HostileMode, type Sandbox, type SandboxOptions } from './sandbox.js';
export type { ActivityRecord, ActivityCounts } from './activity-generator.js';
export type { SandboxLimits } from './ews-context.js';
export { statsOf } from './control-api.js';
export { LatencyModel, LATENCY_PROFILES, type LatencyProfile } from './latency-model.js';
export { TokenService, EXCHANGE_AUDIENCE, type OAuthApp } from './token-service.js';
export { GRAPH_AUDIENCE } from './token-service.js';
export { GraphServer, GRAPH_LIMITS, type GraphLimits } from './graph/graph-server.js';
