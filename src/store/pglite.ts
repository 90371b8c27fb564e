import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import type { Database, ListenStatus, QueryOptions, QueryResult, TransactionOptions, Tx } from './database.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { pgliteOptions } from './pglite-options.ts';

/**
 * A turn of the event loop before each statement. PGlite runs a statement in this thread and answers through promises
 * alone, so a chain of statements never let the event loop run: a ZCC board's snapshot of 814 open handovers held
 * every other request of the embedded gateway, its liveness probe included, for 2.9–4.1 s, and a board that had
 * closed was read to its end. PGlite's own lock still lets one transaction run at a time; a statement
 * outside it waits for its end, as before.
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A statement's result as `pg` gives it. `rowCount` is what PostgreSQL's command tag says: the rows a SELECT returned,
 * the rows an INSERT, UPDATE or DELETE changed. PGlite's `affectedRows` is 0 for a SELECT (and for a data-modifying CTE
 * under one), so its rows are counted instead.
 */
const asQueryResult = <R>(r: Results<R>): QueryResult<R> => ({ rows: r.rows, rowCount: r.affectedRows || r.rows.length });

/**
 * The embedded default: real PostgreSQL compiled to WASM, one connection in this process.
 * PGlite serialises transactions itself, so code inside a transaction must use its `tx`.
 */
class PGliteTx implements Tx {
  private readonly tx: Transaction;
  /**
   * Whether the statement marked as the transaction's last (QueryOptions.commit) has run. PGlite commits when the
   * work returns, as always; a statement after it is refused all the same, as on PostgreSQL, where it has committed.
   */
  private last = false;
  constructor(tx: Transaction) {
    this.tx = tx;
  }
  async query<R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    if (this.last) throw new Error('A statement after the transaction committed');
    await nextTurn();
    for (const ahead of options?.ahead ?? []) {
      const r = await this.tx.query(ahead.sql, ahead.params);
      ahead.answer?.(r.rows);
    }
    const r = await this.tx.query<R>(sql, params);
    if (options?.commit === true) this.last = true;
    return asQueryResult(r);
  }
  async exec(sql: string): Promise<void> {
    if (this.last) throw new Error('A statement after the transaction committed');
    await nextTurn();
    await this.tx.exec(sql);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * initdb in a child process (src/store/pglite-create.ts), with this process's Node options: what it takes (two
 * PostgreSQL WASM instances and initdb's) goes back to the operating system when the child exits, instead of
 * raising the gateway's peak memory at its first start.
 */
async function createCluster(dataDir: string): Promise<void> {
  const script = join(import.meta.dirname, 'pglite-create.ts');
  try {
    await promisify(execFile)(process.execPath, [...process.execArgv, script, dataDir], { timeout: 120_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`The embedded database could not be created in ${dataDir}${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}

export class PGliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  private readonly db: PGlite;
  /** Gives the data directory back (src/store/data-dir-lock.ts); nothing to give for a database in memory. */
  private readonly unlock: () => void;

  private constructor(db: PGlite, unlock: () => void) {
    this.db = db;
    this.unlock = unlock;
  }

  /** `dataDir` undefined keeps the database in memory (tests). A directory another running gateway holds is refused. */
  static async open(dataDir?: string): Promise<PGliteDatabase> {
    if (dataDir === undefined) return PGliteDatabase.ready(new PGlite(pgliteOptions()), () => {});
    const unlock = lockDataDir(dataDir);
    try {
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await createCluster(dataDir);
      return await PGliteDatabase.ready(new PGlite({ dataDir, ...pgliteOptions() }), unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  private static async ready(db: PGlite, unlock: () => void): Promise<PGliteDatabase> {
    await db.waitReady;
    return new PGliteDatabase(db, unlock);
  }

  async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    await nextTurn();
    return asQueryResult(await this.db.query<R>(sql, params));
  }

  async exec(sql: string): Promise<void> {
    await nextTurn();
    await this.db.exec(sql);
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const before = options?.before;
    if (before !== undefined) await this.db.query(before.sql, before.params).catch((err: unknown) => before.failed(err));
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

  // One connection in this process: a NOTIFY is handed to the listeners before the statement that committed it returns.
  async caughtUp(channel: string): Promise<boolean> {
    return [...this.listening.values()].some((s) => s.channel === channel);
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
    try {
      await this.db.close();
    } finally {
      this.unlock();
    }
  }
}
