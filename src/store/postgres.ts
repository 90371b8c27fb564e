import pg from 'pg';
import type { AheadStatement, Database, ListenStatus, QueryOptions, QueryResult, StatementBefore, TransactionOptions, Tx } from './database.ts';
import { runBefore, type BeforeStatement } from './statement-before.ts';
import { runWithAhead, type StatementAhead } from './statement-ahead.ts';
import { begin, beginWith } from './begin-with-first-statement.ts';
import { commitWith } from './commit-with-last-statement.ts';
import { classifyDatabaseError, QUERY_READ_TIMEOUT } from './faults.ts';
import { ReconnectingListener } from './pg-listener.ts';
import { runQuery } from './pg-query-internals.ts';
import { QueryDeadline } from './query-deadline.ts';
import { plainTextArray } from './text-array.ts';
import { plainTimestamp } from './timestamp-text.ts';

// Timestamps and bigints stay strings: the store turns them into FHIR instants and version ids itself.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);
// text[] (OID 1009): the plain form read directly, anything else by pg's own parser.
// pg's type ids name the scalar types only: the array type's id is taken as one of them.
const TEXT_ARRAY_OID = 1009 as unknown as Parameters<typeof pg.types.getTypeParser>[0];
const generalTextArray = pg.types.getTypeParser(TEXT_ARRAY_OID, 'text') as (text: string) => unknown;
pg.types.setTypeParser(TEXT_ARRAY_OID, (text: string) => plainTextArray(text) ?? generalTextArray(text));
// timestamptz: the form of a UTC session read directly, anything else by pg's own parser (postgres-date).
const generalTimestamp = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (text: string) => unknown;
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (text: string) => plainTimestamp(text) ?? generalTimestamp(text));

export interface PostgresOptions {
  connectionString: string;
  maxConnections?: number;
  /** How long a connection may stay idle in the pool before it is closed (pg's default: 10 s); 0: never. */
  idleTimeoutMs?: number;
  /**
   * How long a connection is used at most; then it is closed when next idle (never within a transaction) and a new one
   * is opened as needed. Each connection keeps the plans of its prepared statements until PostgreSQL analyses a table
   * they read; without autovacuum that is never, and a plan made while a table was a few rows (a sequential scan) was
   * kept as the table grew. 0: for as long as the pool keeps it.
   */
  maxLifetimeSeconds?: number;
  /** Role every connection works as from its start (see the audit migration and `useRole`). */
  role?: string;
  /** How long to wait for a new connection (then the request fails with 503); 0: no limit. */
  connectTimeoutMs?: number;
  /**
   * The longest a statement may run: `statement_timeout` on the server, and a client-side read timeout
   * `queryTimeoutMs` for a server that stopped answering altogether (src/store/query-deadline.ts). Only for the gateway's role (after
   * `useRole`): the migrations, run before as the administrator, may take as long as they need.
   */
  statementTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Told of what the gateway lives through (a lost LISTEN connection, a client that broke): for the log. */
  onFault?: (err: unknown, what: string) => void;
}

/** Undoes GENERIC_PLANS (src/store/begin-with-first-statement.ts) for the rest of a transaction. */
const CUSTOM_PLANS = 'SET LOCAL plan_cache_mode = auto';

// Statements are prepared once per connection and reused: parsing and planning the same text for every
// call cost PostgreSQL about a third of its time per handover. Texts are bounded (search builds SQL from
// its parameters), so a connection never holds more than PREPARED_LIMIT of them.
const PREPARED_LIMIT = 400;
const preparedNames = new Map<string, string>();
function statement(sql: string, params: unknown[] | undefined, options: QueryOptions | undefined): string | pg.QueryConfig {
  if (params === undefined) return sql;
  // An unnamed statement is planned with its values each time (a custom plan).
  if (options?.prepare === false) return { text: sql, values: params };
  let name = preparedNames.get(sql);
  if (name === undefined) {
    if (preparedNames.size >= PREPARED_LIMIT) return { text: sql, values: params };
    name = `s${preparedNames.size}`;
    preparedNames.set(sql, name);
  }
  return { name, text: sql, values: params };
}

/**
 * A transaction on one connection. BEGIN is sent with its first statement (src/store/begin-with-first-statement.ts),
 * not as a round trip of its own; a transaction that sends nothing sends neither BEGIN nor COMMIT. COMMIT goes with
 * the statement marked as the last (`QueryOptions.commit`, src/store/commit-with-last-statement.ts), or alone when
 * the work returns.
 */
class ClientTx implements Tx {
  private readonly client: pg.PoolClient | pg.Client;
  /** Whether BEGIN has been sent: from then on the transaction ends with COMMIT or ROLLBACK. */
  started = false;
  /** Whether COMMIT went with the last statement and was answered: nothing more is sent in this transaction. */
  committed = false;
  /** Whether the transaction's statements are planned for their values again (CUSTOM_PLANS sent). */
  private customPlans = false;
  /** The statement to run before the transaction (`TransactionOptions.before`), until its first statement takes it. */
  private before: BeforeStatement | undefined;
  constructor(client: pg.PoolClient | pg.Client, before?: StatementBefore) {
    this.client = client;
    if (before !== undefined) {
      const config = statement(before.sql, before.params, undefined);
      // Without a name (past PREPARED_LIMIT) it cannot go with the first statement: it runs alone.
      this.before = { config: typeof config === 'string' ? { text: config } : config, failed: (err) => before.failed(err) };
    }
  }
  /** The statement before, for the transaction's first statement to send (once). */
  private takeBefore(): BeforeStatement | undefined {
    const before = this.before;
    this.before = undefined;
    return before;
  }
  /** Runs the statement before alone, unless a statement took it already (a script first, or nothing sent at all). */
  async runBefore(): Promise<void> {
    const before = this.takeBefore();
    if (before !== undefined) await runBefore(this.client, before);
  }
  async query<R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    if (this.committed) throw new Error('A statement after the transaction committed');
    // A transaction plans generically (GENERIC_PLANS, sent with BEGIN); a client's search in one (a GET entry of a
    // transaction Bundle) is planned for its values, as outside one (src/fhir/search/execute.ts). Rare: a round trip.
    if (options?.prepare === false && !this.customPlans) {
      this.customPlans = true;
      await this.exec(CUSTOM_PLANS);
    }
    const ahead = options?.ahead;
    if (ahead !== undefined && ahead.length > 0) return this.queryAfter(ahead, sql, params, options);
    const config = statement(sql, params, options);
    let r: pg.QueryResult;
    if (options?.commit === true && typeof config !== 'string') {
      const begun = this.started;
      this.started = true;
      r = await commitWith(this.client, config, begun, begun ? undefined : this.takeBefore());
      this.committed = true;
    } else if (this.started) {
      r = await runQuery(this.client, config);
    } else {
      this.started = true;
      if (typeof config === 'string') {
        await this.runBefore();
        await begin(this.client);
        r = await runQuery(this.client, config);
      } else {
        r = await beginWith(this.client, config, this.takeBefore());
      }
    }
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }
  /**
   * `all` (QueryOptions.ahead), then the statement: in one round trip when all are prepared on the connection (COMMIT
   * too, with `commit`), else one after the other.
   */
  private async queryAfter<R>(all: readonly AheadStatement[], sql: string, params: unknown[] | undefined, options: QueryOptions | undefined): Promise<QueryResult<R>> {
    const rest: QueryOptions = { ...options, ahead: undefined };
    const config = statement(sql, params, rest);
    const prepared: StatementAhead[] = [];
    for (const a of all) {
      const first = statement(a.sql, a.params, undefined);
      if (typeof first !== 'string' && first.name !== undefined) prepared.push({ name: first.name, values: first.values ?? [], answer: a.answer });
    }
    if (prepared.length === all.length && typeof config !== 'string') {
      const commit = options?.commit === true;
      const run = runWithAhead(this.client, prepared, config, !this.started, commit, this.started ? undefined : this.before);
      if (run !== undefined) {
        this.before = undefined;
        this.started = true;
        const r = await run;
        if (commit) this.committed = true;
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      }
    }
    for (const a of all) {
      const r = await this.query(a.sql, a.params);
      a.answer?.(r.rows);
    }
    return this.query<R>(sql, params, rest);
  }
  async exec(sql: string): Promise<void> {
    if (this.committed) throw new Error('A statement after the transaction committed');
    if (!this.started) {
      this.started = true;
      await this.runBefore();
      await begin(this.client);
    }
    await runQuery(this.client, sql);
  }
}

// Startup parameters of every connection, so that they hold before the first query.
// The role: a missing role fails the connection instead of leaving it with the administrator's rights.
// jit=off: the gateway's statements each touch a few rows through an index, but the planner's estimates grow with
// the tables (never analyzed: autovacuum off, a new database) and pass jit_above_cost, after which PostgreSQL
// compiles the statement at EVERY execution (a JIT compilation is not cached with the plan). The grouped Task's
// party lookup of a native handover, 11 blocks read, took 95 ms of which JIT 110 ms (sic: emission 94 ms) at 5,000
// handovers stored, and the ingest fell from 98 to 15 handovers/s (auto_explain, bench/native-ingest-ab.ts).
// Costs: a long scan the gateway ran (none is on its request path) would not be compiled either. PGlite has no JIT.
// max_parallel_workers_per_gather=0: for the same reason, past a few hundred MB of `resources` the generic plan of a
// token lookup (its tokens hidden from the planner: src/store/token-lookup.ts) is estimated at a share of the table
// and becomes a Gather Merge over a parallel bitmap heap scan: two worker processes started for every native
// handover's identity lookups, which then read one index page and one row. At 468,000 resources, 52,000 handovers,
// never analyzed: 74 handovers/s at 4.6 + 21.1 ms of CPU each, and 361/s at 2.5 + 1.9 ms with no workers
// (bench/native-ingest.ts, one after the other). Once analyzed, the same table planned no workers (336/s before this
// setting): a server with autovacuum runs into it only while a table grows faster than it is analyzed. Costs: a count
// or an auditor's search over many rows runs in one process, as every request does, instead of taking cores from the
// others. PGlite has no parallel workers.
const SESSION_SETTINGS = '-c jit=off -c max_parallel_workers_per_gather=0';

function connectionOptions(role: string | undefined): string {
  if (role === undefined) return SESSION_SETTINGS;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`Invalid database role name '${role}'`);
  return `-c role=${role} ${SESSION_SETTINGS}`;
}

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private pool: pg.Pool;
  private options: PostgresOptions;
  /** The pool's client-side read timeout (`queryTimeoutMs`), for the gateway's role only. */
  private deadline: QueryDeadline | undefined;

  constructor(options: PostgresOptions) {
    this.options = options;
    this.pool = PostgresDatabase.createPool(options);
    this.deadline = PostgresDatabase.deadlineOf(this.pool, options);
  }

  private static clientConfig(options: PostgresOptions): pg.ClientConfig {
    const limited = options.role !== undefined;
    return {
      connectionString: options.connectionString,
      options: connectionOptions(options.role),
      connectionTimeoutMillis: options.connectTimeoutMs ?? 0,
      statement_timeout: limited && options.statementTimeoutMs ? options.statementTimeoutMs : undefined,
      // A connection to a database that vanished without a word (a failover) is noticed, not waited on for hours.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    };
  }

  private static createPool(options: PostgresOptions): pg.Pool {
    const pool = new pg.Pool({ ...PostgresDatabase.clientConfig(options), max: options.maxConnections ?? 20, idleTimeoutMillis: options.idleTimeoutMs, maxLifetimeSeconds: options.maxLifetimeSeconds ?? 0 });
    // An idle client that loses its connection must not crash the process; the pool drops it.
    pool.on('error', (err) => options.onFault?.(err, 'an idle database connection was lost'));
    return pool;
  }

  /** Only for the gateway's role (after `useRole`): the migrations, run before as the administrator, may take as long as they need. */
  private static deadlineOf(pool: pg.Pool, options: PostgresOptions): QueryDeadline | undefined {
    if (options.role === undefined || !options.queryTimeoutMs) return undefined;
    return new QueryDeadline(pool, options.queryTimeoutMs, (err) => options.onFault?.(err, `a database connection gave no answer for ${options.queryTimeoutMs} ms and was given up`));
  }

  async useRole(role: string): Promise<void> {
    const next = { ...this.options, role };
    const pool = PostgresDatabase.createPool(next);
    const deadline = PostgresDatabase.deadlineOf(pool, next);
    try {
      const r = await pool.query<{ current_user: string }>('SELECT current_user');
      if (r.rows[0]?.current_user !== role) throw new Error(`The database connection works as '${String(r.rows[0]?.current_user)}', not '${role}'`);
    } catch (err) {
      deadline?.stop();
      await pool.end().catch(() => undefined);
      throw err;
    }
    const old = this.pool;
    this.deadline?.stop();
    this.pool = pool;
    this.deadline = deadline;
    this.options = next;
    await old.end();
  }

  async query<R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    const r = await this.pool.query(statement(sql, params, options) as pg.QueryConfig);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const client = await this.pool.connect();
    // pg-pool takes its idle 'error' listener off a client it hands out: without one of ours, a connection
    // lost during the transaction (a database restart) is an unhandled 'error' event, which ends the process.
    let broken: unknown;
    const onError = (err: unknown): void => {
      broken ??= err;
    };
    client.on('error', onError);
    const tx = new ClientTx(client, options?.before);
    try {
      const result = await work(tx);
      // A transaction that sent nothing: the statement before runs all the same.
      await tx.runBefore();
      if (tx.started && !tx.committed) await runQuery(client, 'COMMIT');
      return result;
    } catch (err) {
      await tx.runBefore();
      // A connection that is gone, or a server that stopped answering, is not asked to roll back: the server
      // rolls back a transaction whose connection ends, and the client is thrown away below.
      const fault = classifyDatabaseError(err);
      // A transaction that committed with its last statement has nothing left to roll back.
      if (tx.started && !tx.committed && broken === undefined && fault !== 'unavailable' && !(err instanceof Error && err.message === QUERY_READ_TIMEOUT)) {
        await runQuery(client, 'ROLLBACK').catch((rollbackFailed: unknown) => {
          broken ??= rollbackFailed;
        });
      } else {
        broken ??= err;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      // A broken client is destroyed rather than handed to the next request.
      client.release(broken === undefined ? undefined : broken instanceof Error ? broken : true);
    }
  }

  /** The one LISTEN connection of this instance (see ReconnectingListener), opened by the first `listen`. */
  private listener: ReconnectingListener | undefined;
  /** Its first opening, while under way: `listen` calls meanwhile wait for it instead of opening another. */
  private opening: Promise<ReconnectingListener> | undefined;

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const listener = this.listener ?? (await (this.opening ??= this.openListener()));
    const added = await listener.add(channel, onNotify);
    return async () => {
      // The connection ends with its last channel (a stopped gateway keeps none open), unless a `listen` added one
      // while `remove` was being awaited.
      if ((await listener.remove(added)) && this.listener === listener && listener.listeners().length === 0) {
        this.listener = undefined;
        await listener.stop();
      }
    };
  }

  private async openListener(): Promise<ReconnectingListener> {
    const listener: ReconnectingListener = new ReconnectingListener({
      // Named, so that an operator (or a test) can tell the LISTEN connection apart in pg_stat_activity.
      client: () => new pg.Client({ ...PostgresDatabase.clientConfig({ ...this.options, statementTimeoutMs: undefined, queryTimeoutMs: undefined }), application_name: 'gateway listen' }),
      onError: (err, state) => this.options.onFault?.(err, `the LISTEN connection (${listener.listeners().map((l) => l.channel).join(', ')}) is ${state}`),
    });
    try {
      // A first connection that cannot be opened is not kept: the next `listen` tries again.
      await listener.start();
      this.listener = listener;
      return listener;
    } finally {
      this.opening = undefined;
    }
  }

  async caughtUp(channel: string): Promise<boolean> {
    const listener = this.listener;
    return listener?.has(channel) === true ? listener.caughtUp() : false;
  }

  listenStatus(): ListenStatus[] {
    const listener = this.listener;
    if (!listener) return [];
    return listener.listeners().map((l) => ({ channel: l.channel, listening: listener.state === 'listening', notifications: l.notifications, reconnects: listener.reconnects }));
  }

  async close(): Promise<void> {
    this.deadline?.stop();
    await this.pool.end();
  }
}
