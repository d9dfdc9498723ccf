import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { assertIdentifier, type Database } from '../state/database.js';
import { parseEnvelope, type ChangeEnvelope } from '../streams/envelope.js';
import type { ChangeHandler, HandlingPlace, Outcome } from './change-handler.js';
import type { ItemMappingStore } from './item-mapping.js';

export interface DeleteBreakerSettings {
  /** Trips when a scope's deletes within the window exceed this share of its mapped items … */
  readonly percent: number;
  /** … and this many (a mailbox of 5 items may lose 3). */
  readonly minimum: number;
  readonly windowMs: number;
}

/** A scope's parked deletes, for the status page and the CLI. */
export interface TrippedScope {
  readonly scope: string;
  readonly parked: number;
  readonly since: string;
}

interface ParkedRow {
  id: string;
  scope: string;
  envelope: string;
  log_partition: number;
  log_offset: string;
  log_key: string;
  parked_at: Date;
}

/**
 * Users of every calendar sync report mass deletions (a script, a mistaken rule, a
 * restored backup). When more than `percent` of a scope's mapped items (and more than
 * `minimum`) are deleted within the window, the breaker trips for that scope: its further
 * deletes are not applied but parked (in the sync's state, committed before the message is),
 * counted (ecs_parked_deletes) and named on /ready and the status page, until an operator
 * releases them (applied, in their order) or discards them (`exchange-crm-sync deletes`).
 * Scopes: `exchange:<mailbox>` for deletes made in a mailbox, `crm` for those made in the CRM.
 */
export class DeleteBreaker {
  private readonly table: string;
  private readonly recent = new Map<string, number[]>();
  private readonly tripped = new Map<string, number>();
  private readonly trips?: Counter<'scope_kind'>;

  constructor(private readonly db: Database, schema: string, private readonly settings: DeleteBreakerSettings, private readonly mappings: Pick<ItemMappingStore, 'liveCount'>, private readonly logger: Logger, registry?: Registry) {
    this.table = `${assertIdentifier(schema)}.parked_delete`;
    if (registry) {
      this.trips = new Counter({ name: 'ecs_delete_breaker_trips_total', help: 'Times a burst of deletes tripped the breaker, by scope kind (exchange mailbox or crm)', labelNames: ['scope_kind'], registers: [registry] });
      const gauge: Gauge = new Gauge({ name: 'ecs_parked_deletes', help: 'Deletes held back by the delete breaker, waiting for an operator', registers: [registry], collect: async () => gauge.set(await this.parkedCount()) });
    }
  }

  static async migrate(db: Database, schema: string): Promise<void> {
    const s = assertIdentifier(schema);
    await db.query(`create schema if not exists ${s}`);
    await db.query(`create table if not exists ${s}.parked_delete (id bigserial primary key, scope text not null, envelope text not null, log_partition int not null, log_offset bigint not null,
      log_key text not null, parked_at timestamptz not null default now())`);
    await db.query(`create index if not exists parked_delete_scope on ${s}.parked_delete (scope, id)`);
  }

  /** Scopes tripped before a restart stay tripped while they have parked deletes. */
  async load(): Promise<void> {
    const { rows } = await this.db.query<{ scope: string; since: Date }>(`select scope, min(parked_at) as since from ${this.table} group by scope`);
    for (const r of rows) this.tripped.set(r.scope, new Date(r.since).getTime());
  }

  /**
   * Does this delete go through? False: the breaker is (or now becomes) open for the scope,
   * and the delete was parked. Only deletes of mapped items count.
   */
  async admit(scope: string, envelope: ChangeEnvelope, at: HandlingPlace): Promise<boolean> {
    if (!this.tripped.has(scope)) {
      const now = Date.now();
      const times = (this.recent.get(scope) ?? []).filter((t) => now - t < this.settings.windowMs);
      times.push(now);
      this.recent.set(scope, times);
      const mapped = await this.mappings.liveCount(scope.startsWith('exchange:') ? scope.slice('exchange:'.length) : undefined);
      const limit = Math.max(this.settings.minimum, (this.settings.percent / 100) * (mapped + times.length));
      if (times.length <= limit) return true;
      this.tripped.set(scope, now);
      this.recent.delete(scope);
      this.trips?.inc({ scope_kind: scope === 'crm' ? 'crm' : 'exchange' });
      this.logger.error({ event: 'delete-breaker.tripped', scope, deletes: times.length, mapped, windowMs: this.settings.windowMs },
        `${times.length} deletes in ${Math.round(this.settings.windowMs / 1000)} s for ${scope} (of ${mapped} mapped items): further deletes there are held back; release or discard them with \`exchange-crm-sync deletes\``);
    }
    await this.db.query(`insert into ${this.table} (scope, envelope, log_partition, log_offset, log_key) values ($1, $2, $3, $4, $5)`,
      [scope, JSON.stringify(envelope), at.partition, at.offset, at.key]);
    return false;
  }

  async parkedCount(): Promise<number> {
    return Number((await this.db.query<{ n: string }>(`select count(*) as n from ${this.table}`)).rows[0].n);
  }

  async list(): Promise<TrippedScope[]> {
    const { rows } = await this.db.query<{ scope: string; n: string; since: Date }>(`select scope, count(*) as n, min(parked_at) as since from ${this.table} group by scope order by scope`);
    const out = rows.map((r) => ({ scope: r.scope, parked: Number(r.n), since: new Date(r.since).toISOString() }));
    // tripped, nothing parked yet (the delete that tripped it was the first held back)
    for (const [scope, since] of this.tripped) if (!out.some((o) => o.scope === scope)) out.push({ scope, parked: 0, since: new Date(since).toISOString() });
    return out;
  }

  /** For /ready and the status page: which scopes hold deletes back. */
  describe(): string | null {
    if (!this.tripped.size) return null;
    return `deletes held back for ${[...this.tripped.keys()].join(', ')} (a burst tripped the delete breaker): \`exchange-crm-sync deletes release|discard <scope>\``;
  }

  /**
   * Applies a scope's parked deletes through `apply` (in the order they came, each at its
   * place in the log), then closes the breaker. Returns how many were applied.
   */
  async release(scope: string, apply: (envelope: ChangeEnvelope, at: HandlingPlace) => Promise<Outcome>): Promise<number> {
    const { rows } = await this.db.query<ParkedRow>(`select * from ${this.table} where scope = $1 order by id`, [scope]);
    for (const r of rows) {
      await apply(parseEnvelope(r.envelope), { partition: r.log_partition, offset: Number(r.log_offset), key: r.log_key });
      await this.db.query(`delete from ${this.table} where id = $1`, [r.id]);
    }
    this.tripped.delete(scope);
    this.logger.warn({ event: 'delete-breaker.released', scope, deletes: rows.length }, `${rows.length} held-back deletes of ${scope} applied`);
    return rows.length;
  }

  /** Forgets a scope's parked deletes (the items or records stay) and closes the breaker. */
  async discard(scope: string): Promise<number> {
    const r = await this.db.query(`delete from ${this.table} where scope = $1`, [scope]);
    this.tripped.delete(scope);
    this.logger.warn({ event: 'delete-breaker.discarded', scope, deletes: r.rowCount }, `${r.rowCount} held-back deletes of ${scope} discarded: the other side keeps those items`);
    return r.rowCount;
  }

  isTripped(scope: string): boolean {
    return this.tripped.has(scope);
  }
}

/**
 * A handler behind the breaker: its deletes of mapped items pass the breaker first. The
 * scope is the mailbox for deletes made in Exchange, the CRM for deletes made there.
 */
export function behindBreaker(
  handler: ChangeHandler, breaker: DeleteBreaker, mapped: (envelope: ChangeEnvelope, at: HandlingPlace) => Promise<boolean>,
  /** What removes a record or an item: a delete, or a change a rule hides (an item that gained an excluded category). */
  removes: (envelope: ChangeEnvelope) => boolean = (e) => e.op === 'd',
): ChangeHandler & { unguarded: ChangeHandler } {
  return {
    unguarded: handler,
    accepts: (envelope) => handler.accepts(envelope),
    handle: async (envelope, at) => {
      if (!removes(envelope) || !(await mapped(envelope, at))) return handler.handle(envelope, at);
      const scope = envelope.source.startsWith('exchange:') ? envelope.source : 'crm';
      return (await breaker.admit(scope, envelope, at)) ? handler.handle(envelope, at) : 'skipped';
    },
  };
}
