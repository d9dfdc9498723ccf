// Where the real services of the test run are; scripts/test.mjs sets these.
import { randomBytes } from 'node:crypto';

export function kafkaBrokers(): string[] {
  return (process.env.ECS_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
}

export function postgresUrl(): string {
  return process.env.ECS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** A name nobody else uses in this run: topics, schemas, consumer groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}
