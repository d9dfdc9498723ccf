import type { ChangeEnvelope } from '../streams/envelope.js';

export type Outcome = 'applied' | 'unchanged' | 'skipped';

/** Where a message is in the log: one key's changes are in order on one partition. */
export interface HandlingPlace {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
}

/**
 * One kind of change applied to one side (appointments to the CRM, contacts to Exchange, a
 * selection to its contact folders …). A consumer group runs several behind one router, so
 * a new item type is a new handler, not another branch in an existing one.
 */
export interface ChangeHandler {
  /** Does this handler apply this envelope (its type, from its side)? */
  accepts(envelope: ChangeEnvelope): boolean;
  handle(envelope: ChangeEnvelope, at: HandlingPlace): Promise<Outcome>;
}

/** The first handler that accepts an envelope applies it; one no handler accepts is skipped. */
export function routeByType(handlers: readonly ChangeHandler[]): (envelope: ChangeEnvelope, at: HandlingPlace) => Promise<Outcome> {
  return (envelope, at) => {
    const handler = handlers.find((h) => h.accepts(envelope));
    return handler ? handler.handle(envelope, at) : Promise.resolve('skipped');
  };
}
