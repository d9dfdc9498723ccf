// The streams folder's port: the transport and the two pipelines.
export type { Transport, OutgoingMessage, IncomingMessage, PartitionLag, ConsumerOptions, RunningConsumer } from './transport/transport.js';
export { topicsOf, groupsOf } from './transport/transport.js';
export { KafkaTransport } from './transport/kafka-transport.js';
export { EmbeddedTransport } from './transport/embedded-transport.js';
export { ExchangeToLog } from './exchange-to-log.js';
export { CrmToLog, crmChangeMessage } from './crm-to-log.js';
export { CrmCatchUp, type MappedActivity } from './crm-catch-up.js';
export { exchangeChangeMessage } from './exchange-change-message.js';
export { DEAD_LETTER, deadLetterOf, type DeadLetterStage } from './dead-letter.js';
export { LagMonitor } from './lag-monitor.js';
export { PipelineMetrics } from './pipeline-metrics.js';
export { assertEnvelope, parseEnvelope, envelopeId, type ChangeEnvelope, type ItemFields } from './envelope.js';
export { openTransport } from './open-transport.js';
