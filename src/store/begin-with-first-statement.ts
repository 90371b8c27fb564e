import pg from 'pg';
import { queryInternals, runQuery, submitExtended } from './pg-query-internals.ts';
import { canSendBefore, queueWithBefore, runBefore, type BeforeStatement } from './statement-before.ts';

/**
 * A transaction's BEGIN sent in the same write as its first statement, answered by one ReadyForQuery: one round trip
 * fewer per write transaction (a Task create was five: BEGIN, its write, the party propagation, the commit batch,
 * COMMIT). A round trip costs the gateway a socket write and a wake-up for the answer, and the PostgreSQL backend a
 * read and a wake-up of its own, whatever the statement does; BEGIN does nothing else.
 *
 * pg's own pipeline mode does not do this: it writes each query as it comes (two writes, two wake-ups of the
 * backend), and only per client, for every query of its life.
 *
 * BEGIN goes as the extended protocol's Bind + Execute of a statement prepared once per connection (`beginAlone`),
 * ahead of the first statement's own Parse (when new on the connection), Bind, Describe, Execute and the one Sync.
 * The server runs them in order and stops at the first error until the Sync: a statement never runs outside the
 * transaction, and a failed one leaves it aborted, to be rolled back as before. The answers reach this query: BEGIN's
 * CommandCompletes are passed over, so that the statement's result is the query's only result.
 *
 * BEGIN is followed by `SET LOCAL plan_cache_mode = force_generic_plan` (GENERIC_PLANS), in the same write: every
 * statement of a transaction is one the gateway wrote for a generic plan (lookups by key, each key by itself in a
 * lateral subquery), but PostgreSQL chose between generic and custom by their estimated costs, and a statement
 * reading keys from `unnest($1::text[])` looked cheaper planned for its values (the array's length known, against 10
 * rows assumed), so it was planned again at every execution: a Task create's commit batch, about 1 ms of planning
 * per create in `npm run bench` (pg_stat_statements: 1,395 plans for 1,387 calls), more than its execution. The
 * setting ends with the transaction: a client's search outside one is still planned for its values
 * (src/fhir/search/execute.ts), and one inside a transaction asks for that again (ClientTx in postgres.ts).
 */

/** BEGIN's name as a prepared statement of a connection (distinct from the `s<n>` names of src/store/postgres.ts). */
const BEGIN_STATEMENT = 'begin_transaction';

/** Generic plans for the transaction's statements (see above), prepared beside BEGIN and sent with it. */
const GENERIC_PLANS_STATEMENT = 'generic_plans_transaction';
const GENERIC_PLANS = 'SET LOCAL plan_cache_mode = force_generic_plan';

/** CommandCompletes that `writeBegin` brings (BEGIN's and GENERIC_PLANS'), passed over by the query sent with it. */
export const BEGIN_ANSWERS = 2;

/** The connections (by their pg client) on which BEGIN is prepared. */
const beginPrepared = new WeakSet<pg.ClientBase>();

/** Whether BEGIN is prepared on `client`, so that `writeBegin` may send it. */
export const isBeginPrepared = (client: pg.ClientBase): boolean => beginPrepared.has(client);

/** Writes BEGIN's and GENERIC_PLANS' Bind + Execute (no Sync) ahead of a statement's messages; both must be prepared on the connection. */
export function writeBegin(connection: pg.Connection): void {
  connection.bind({ statement: BEGIN_STATEMENT, portal: '', values: [] }, true);
  connection.execute({ portal: '' }, true);
  connection.bind({ statement: GENERIC_PLANS_STATEMENT, portal: '', values: [] }, true);
  connection.execute({ portal: '' }, true);
}

class BeginThenQuery extends pg.Query {
  /** BEGIN's CommandCompletes still to pass over: the first to come. */
  private skip = BEGIN_ANSWERS;

  // pg's `submit` corks the socket, calls this and uncorks: BEGIN's messages go in the same write as the statement's.
  prepare(connection: pg.Connection): void {
    writeBegin(connection);
    queryInternals.prepare.call(this, connection);
  }

  handleCommandComplete(msg: { text?: string }, connection: pg.Connection): void {
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    queryInternals.handleCommandComplete.call(this, msg, connection);
  }
}

/** Starts a transaction on `client` on its own (two round trips), preparing BEGIN for the next ones on that connection. */
async function beginAlone(client: pg.ClientBase): Promise<void> {
  await runQuery(client, { name: BEGIN_STATEMENT, text: 'BEGIN', values: [] });
  await runQuery(client, { name: GENERIC_PLANS_STATEMENT, text: GENERIC_PLANS, values: [] });
  beginPrepared.add(client);
}

/**
 * Starts a transaction on `client` and runs `config` in it, in one round trip once the connection has BEGIN prepared
 * (its first transaction sends BEGIN alone). The statement goes by the extended protocol, so one statement only (no
 * script of several); the result is the statement's. `before`: a statement of its own to run first
 * (src/store/statement-before.ts), in the same write when it can.
 */
export async function beginWith(client: pg.ClientBase, config: pg.QueryConfig, before?: BeforeStatement): Promise<pg.QueryResult> {
  if (before !== undefined && !canSendBefore(client, before)) {
    // Not in the same write (its text new on the connection): alone, first.
    await runBefore(client, before);
    return beginWith(client, config);
  }
  if (!beginPrepared.has(client)) {
    if (before !== undefined) await runBefore(client, before);
    await beginAlone(client);
    return runQuery(client, config);
  }
  return submitExtended(
    client,
    config,
    (extended, callback) => new BeginThenQuery(extended, callback),
    before === undefined ? undefined : (query) => queueWithBefore(client, before, query),
  );
}

/** Starts a transaction on `client` before a statement that cannot go with BEGIN (a text without parameters: maybe a script). */
export async function begin(client: pg.ClientBase): Promise<void> {
  if (beginPrepared.has(client)) await runQuery(client, `BEGIN; ${GENERIC_PLANS}`);
  else await beginAlone(client);
}
