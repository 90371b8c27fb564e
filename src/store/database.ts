/**
 * The one SQL interface the gateway talks to. Two implementations run the same SQL:
 * PostgreSQL through `pg` (production, several instances) and PGlite (the embedded default).
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** How one statement runs. */
export interface QueryOptions {
  /**
   * false: planned for these values on every call, never kept as a prepared statement, whose generic plan may
   * not fit them (a search whose matches are 20 or 20,000 rows needs different plans). Default: prepared.
   */
  prepare?: boolean;
  /**
   * The resources the statement reads, each a type (`Task`) or a key (`Task/<id>`); unset: it may read any. In a
   * write transaction (src/store/write-behind.ts) the writes held back are sent before it only when one of them is
   * among these: a read that cannot see them need not wait for their round trip.
   */
  reads?: readonly string[];
  /**
   * In a transaction: this is its last statement, and the transaction commits with it (PostgreSQL: COMMIT goes in the
   * same round trip, src/store/commit-with-last-statement.ts; PGlite: COMMIT follows when the work returns, as
   * always). Once it has run, the work sends nothing more and must not throw: what would refuse the transaction must
   * refuse it in this statement. A statement that fails leaves the transaction uncommitted, to be rolled back.
   * Outside a transaction it changes nothing.
   */
  commit?: boolean;
  /**
   * In a transaction: statements whose results nobody reads (each must return no rows: the held writes of
   * src/store/write-behind.ts, a Task create's held party propagation) to run just before this one, in this order;
   * PostgreSQL sends them all in one round trip when all are prepared on the connection (src/store/statement-ahead.ts),
   * PGlite runs them first. A failure of any fails this query, leaving the transaction to be rolled back. With
   * `commit`, COMMIT goes in the same round trip too.
   */
  ahead?: readonly AheadStatement[];
}

/** A statement sent ahead of another (QueryOptions.ahead): it returns no rows, and nobody reads its result, unless it has `answer`. */
export interface AheadStatement {
  sql: string;
  params: unknown[];
  /** Takes the statement's rows (a read held to share the next statement's round trip: WriteBehindTx.holdRead). */
  answer?: (rows: unknown[]) => void;
}

/** The options of a transaction's last statement, which commits it (`QueryOptions.commit`). */
export const COMMIT_WITH_LAST: QueryOptions = Object.freeze({ commit: true });

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** One channel listened to: whether it is listening now, and what it heard (readiness, metrics). */
export interface ListenStatus {
  channel: string;
  listening: boolean;
  /** NOTIFYs heard since the process started. */
  notifications: number;
  /** How often its connection was lost and opened again. */
  reconnects: number;
}

/** A statement to run just before a transaction, in a transaction of its own (`Database.transaction`'s `before`). */
export interface StatementBefore {
  sql: string;
  params: unknown[];
  /** Told of its failure, which does not stop the transaction after it. */
  failed(err: unknown): void;
}

export interface TransactionOptions {
  /**
   * A statement to run just before the transaction, on its connection, in a transaction of its own: committed (or
   * failed) before the transaction's BEGIN, as if sent alone and answered first. Its result is not read; its failure
   * goes to `failed`, and the transaction runs all the same. PostgreSQL sends it in the same round trip as the
   * transaction's first statement once its text is prepared on the connection (src/store/statement-before.ts).
   */
  before?: StatementBefore;
}

/** A connection inside an open transaction. */
export type Tx = Queryable;

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * A dedicated connection (one for all channels of an instance) receives NOTIFY on `channel`; returns a function
   * that stops listening.
   * A lost connection is opened again (with back-off) until then; once it listens again, `onNotify('')` is
   * called, as whatever was notified meanwhile was lost.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Resolves true once every NOTIFY on `channel` committed before the call has reached its listener (so that
   * a cache kept by notifications can be trusted for a decision now); false when that cannot be known (not
   * listening on it, the connection lost).
   */
  caughtUp(channel: string): Promise<boolean>;
  /** The state of every channel listened to now. */
  listenStatus(): ListenStatus[];
  /**
   * From now on every connection works as `role` (after the migrations, which need the administrator).
   * Fails, rather than carrying on as the administrator, when the role cannot be taken.
   */
  useRole(role: string): Promise<void>;
  close(): Promise<void>;
}
