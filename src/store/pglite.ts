import { PGlite, type Transaction } from '@electric-sql/pglite';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';
import type { Database, ListenStatus, QueryResult, Tx } from './database.ts';

/**
 * The embedded default: real PostgreSQL compiled to WASM, one connection in this process.
 * PGlite serialises transactions itself, so code inside a transaction must use its `tx`.
 */
class PGliteTx implements Tx {
  private readonly tx: Transaction;
  constructor(tx: Transaction) {
    this.tx = tx;
  }
  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.tx.query<R>(sql, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }
  async exec(sql: string): Promise<void> {
    await this.tx.exec(sql);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class PGliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  private readonly db: PGlite;

  private constructor(db: PGlite) {
    this.db = db;
  }

  /** `dataDir` undefined keeps the database in memory (tests). */
  static async open(dataDir?: string): Promise<PGliteDatabase> {
    // btree_gin: migration 009's index over resource type and tokens.
    const db = new PGlite({ dataDir, extensions: { btree_gin } });
    await db.waitReady;
    return new PGliteDatabase(db);
  }

  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const r = await this.db.query<R>(sql, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => work(new PGliteTx(tx)));
  }

  private readonly listening = new Map<object, ListenStatus>();

  // In the same process as the database: a LISTEN here cannot be cut off.
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const status: ListenStatus = { channel, listening: true, notifications: 0, reconnects: 0 };
    const key = {};
    const unsubscribe = await this.db.listen(channel, (payload) => {
      status.notifications++;
      onNotify(payload);
    });
    this.listening.set(key, status);
    return async () => {
      this.listening.delete(key);
      await unsubscribe();
    };
  }

  listenStatus(): ListenStatus[] {
    return [...this.listening.values()].map((s) => ({ ...s }));
  }

  async useRole(role: string): Promise<void> {
    // One connection: switched once, outside any transaction, so a rollback cannot undo it.
    await this.db.exec(`SET ROLE ${quoteIdent(role)}`);
    const who = await this.db.query<{ current_user: string }>('SELECT current_user');
    if (who.rows[0]?.current_user !== role) throw new Error(`The database works as '${String(who.rows[0]?.current_user)}', not '${role}'`);
  }

  async close(): Promise<void> {
    // Closing twice is harmless: the gateway and whoever opened the database (a test) may both close it.
    if (this.db.closed) return;
    await this.db.close();
  }
}
