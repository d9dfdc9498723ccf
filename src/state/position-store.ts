import { assertIdentifier, type Database } from './database.js';

/**
 * Where each source's resume position lives (EWS SyncState per mailbox folder, CRM
 * change-log id): saved only after the next stage has everything before it.
 */
export interface PositionStore {
  get(key: string): Promise<string | undefined>;
  /** Many at once (start-up of thousands of mailboxes). */
  getMany(keys: readonly string[]): Promise<Map<string, string>>;
  /** Every key that starts with a prefix (e.g. each mailbox's recorded protocol). */
  withPrefix(prefix: string): Promise<Map<string, string>>;
  save(key: string, position: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export class SqlPositionStore implements PositionStore {
  private readonly table: string;

  private constructor(private readonly db: Database, schema: string) {
    this.table = `${assertIdentifier(schema)}.position`;
  }

  static async open(db: Database, schema: string): Promise<SqlPositionStore> {
    const store = new SqlPositionStore(db, schema);
    await db.query(`create schema if not exists ${assertIdentifier(schema)}`);
    await db.query(`create table if not exists ${store.table} (key text primary key, position text not null, saved_at timestamptz not null default now())`);
    return store;
  }

  async get(key: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ position: string }>(`select position from ${this.table} where key = $1`, [key]);
    return rows[0]?.position;
  }

  async getMany(keys: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!keys.length) return out;
    const { rows } = await this.db.query<{ key: string; position: string }>(`select key, position from ${this.table} where key = any($1::text[])`, [keys]);
    for (const r of rows) out.set(r.key, r.position);
    return out;
  }

  async withPrefix(prefix: string): Promise<Map<string, string>> {
    const { rows } = await this.db.query<{ key: string; position: string }>(`select key, position from ${this.table} where starts_with(key, $1)`, [prefix]);
    return new Map(rows.map((r) => [r.key, r.position]));
  }

  async save(key: string, position: string): Promise<void> {
    await this.db.query(
      `insert into ${this.table} (key, position, saved_at) values ($1, $2, now()) on conflict (key) do update set position = excluded.position, saved_at = excluded.saved_at`,
      [key, position],
    );
  }

  async delete(key: string): Promise<void> {
    await this.db.query(`delete from ${this.table} where key = $1`, [key]);
  }
}

/** In memory, for unit tests. */
export class MemoryPositionStore implements PositionStore {
  readonly data = new Map<string, string>();
  saves = 0;
  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async getMany(keys: readonly string[]): Promise<Map<string, string>> {
    return new Map(keys.filter((k) => this.data.has(k)).map((k) => [k, this.data.get(k)!]));
  }
  async withPrefix(prefix: string): Promise<Map<string, string>> {
    return new Map([...this.data].filter(([k]) => k.startsWith(prefix)));
  }
  async save(key: string, position: string): Promise<void> {
    this.saves++;
    this.data.set(key, position);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}
