import pg from 'pg';
import type { Database, QueryResult, Tx } from './database.ts';

// Timestamps and bigints stay strings: the store turns them into FHIR instants and version ids itself.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface PostgresOptions {
  connectionString: string;
  maxConnections?: number;
  /** Role the gateway switches to after connecting (see the audit migration). */
  role?: string;
}

class ClientTx implements Tx {
  private readonly client: pg.PoolClient | pg.Client;
  constructor(client: pg.PoolClient | pg.Client) {
    this.client = client;
  }
  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.client.query(sql, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly options: PostgresOptions;

  constructor(options: PostgresOptions) {
    this.options = options;
    this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 20 });
    const role = options.role;
    if (role) {
      this.pool.on('connect', (client) => {
        client.query(`SET ROLE ${pg.escapeIdentifier(role)}`).catch(() => undefined);
      });
    }
    // An idle client that loses its connection must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.pool.query(sql, params);
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
    const client = new pg.Client({ connectionString: this.options.connectionString });
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
