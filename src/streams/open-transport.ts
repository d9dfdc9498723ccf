import type { SyncConfig } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import { PgliteDatabase } from '../state/pglite-database.js';
import { EmbeddedTransport } from './transport/embedded-transport.js';
import { KafkaTransport } from './transport/kafka-transport.js';
import type { Transport } from './transport/transport.js';

export interface OpenedTransport {
  transport: Transport;
  close(): Promise<void>;
}

/** The configured log: Kafka, or the embedded log (its own PGlite database in transport@path). */
export async function openTransport(config: SyncConfig, logger: Logger): Promise<OpenedTransport> {
  if (config.transport.type === 'kafka') {
    const transport = new KafkaTransport(config.transport, logger);
    return { transport, close: () => transport.close() };
  }
  const db = await PgliteDatabase.open(config.transport.path);
  const transport = await EmbeddedTransport.open(db, 'log', config.transport.partitions, logger);
  return {
    transport,
    close: async () => {
      await transport.close();
      await db.close();
    },
  };
}
