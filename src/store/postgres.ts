import pg from 'pg';
import type { Database, QueryResult, Tx } from './database.ts';

// Timestamps and bigints stay strings: the store turns them into FHIR instants and version ids itself.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface PostgresOptions {
  connectionString: string;
  maxConnections?: number;
  /** Role every connection works as from its start (see the audit migration and `useRole`). */
  role?: string;
}

// Statements are prepared once per connection and reused: parsing and planning the same text for every
// call cost PostgreSQL about a third of its time per handover. Texts are bounded (search builds SQL from
// its parameters), so a connection never holds more than PREPARED_LIMIT of them.
const PREPARED_LIMIT = 400;
const preparedNames = new Map<string, string>();
function statement(sql: string, params: unknown[] | undefined): string | pg.QueryConfig {
  if (params === undefined) return sql;
  let name = preparedNames.get(sql);
  if (name === undefined) {
    if (preparedNames.size >= PREPARED_LIMIT) return { text: sql, values: params };
    name = `s${preparedNames.size}`;
    preparedNames.set(sql, name);
  }
  return { name, text: sql, values: params };
}

class ClientTx implements Tx {
  private readonly client: pg.PoolClient | pg.Client;
  constructor(client: pg.PoolClient | pg.Client) {
    this.client = client;
  }
  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.client.query(statement(sql, params) as pg.QueryConfig);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }
}

// The role is a startup parameter, so it holds before the first query and a missing role fails the
// connection instead of leaving it with the administrator's rights.
function connectionOptions(role: string | undefined): string | undefined {
  if (role === undefined) return undefined;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`Invalid database role name '${role}'`);
  return `-c role=${role}`;
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private pool: pg.Pool;
  private options: PostgresOptions;

  constructor(options: PostgresOptions) {
    this.options = options;
    this.pool = PostgresDatabase.createPool(options);
  }

  private static createPool(options: PostgresOptions): pg.Pool {
    const pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 20, options: connectionOptions(options.role) });
    // An idle client that loses its connection must not crash the process.
    pool.on('error', () => undefined);
    return pool;
  }

  async useRole(role: string): Promise<void> {
    const next = { ...this.options, role };
    const pool = PostgresDatabase.createPool(next);
    try {
      const r = await pool.query<{ current_user: string }>('SELECT current_user');
      if (r.rows[0]?.current_user !== role) throw new Error(`The database connection works as '${String(r.rows[0]?.current_user)}', not '${role}'`);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    const old = this.pool;
    this.pool = pool;
    this.options = next;
    await old.end();
  }

  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.pool.query(statement(sql, params) as pg.QueryConfig);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(new ClientTx(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: this.options.connectionString, options: connectionOptions(this.options.role) });
    client.on('error', () => undefined);
    await client.connect();
    client.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    });
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return async () => {
      await client.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
