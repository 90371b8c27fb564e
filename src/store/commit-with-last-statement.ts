import pg from 'pg';
import { BEGIN_ANSWERS, begin, isBeginPrepared, writeBegin } from './begin-with-first-statement.ts';
import { queryInternals, runQuery, submitExtended, type QueryCallback } from './pg-query-internals.ts';
import { canSendBefore, queueWithBefore, runBefore, type BeforeStatement } from './statement-before.ts';

/**
 * A transaction's COMMIT sent in the same write as its last statement, answered by one ReadyForQuery: the end-of-
 * transaction counterpart of src/store/begin-with-first-statement.ts, one round trip fewer per write transaction (a
 * Task create was BEGIN with its write, the party propagation, the commit batch, then COMMIT alone).
 *
 * The statement's Bind, Describe and Execute are followed by COMMIT's Bind + Execute (a statement prepared once per
 * connection) and one Sync. The server runs them in order and, at the first error, skips everything up to the Sync:
 * a statement that fails leaves COMMIT unrun and the transaction aborted, its error reported as before, and the
 * caller rolls back as before. Only a statement after which the transaction does nothing else, and after which
 * nothing may refuse in JavaScript, may go this way: once it has run, it is committed.
 *
 * Relies on pg 8's Query internals (node_modules/pg/lib/query.js): `prepare` writes the statement's messages between
 * the socket's cork and uncork, ending with `_getRows`, which writes Execute and Sync; `handleCommandComplete` takes
 * each CommandComplete; `handleReadyForQuery` answers the caller. test/store/commit-with-last-statement.test.ts fails
 * when these change.
 */

/** COMMIT's name as a prepared statement of a connection (beside BEGIN's `begin_transaction`, and `s<n>` of postgres.ts). */
const COMMIT_STATEMENT = 'commit_transaction';

/** The connections (by their pg client) on which COMMIT is prepared. */
const commitPrepared = new WeakSet<pg.ClientBase>();

/** Whether COMMIT is prepared on `client`, so that `writeCommit` may send it. */
export const isCommitPrepared = (client: pg.ClientBase): boolean => commitPrepared.has(client);

/** Writes COMMIT's Bind + Execute and the Sync after a statement's Execute; COMMIT must be prepared on the connection. */
export function writeCommit(connection: pg.Connection): void {
  connection.bind({ statement: COMMIT_STATEMENT, portal: '', values: [] }, true);
  connection.execute({ portal: '' }, true);
  connection.sync();
}

class StatementThenCommitQuery extends pg.Query {
  /** Whether BEGIN goes first (the transaction's only statement): its CommandCompletes are then the first, passed over. */
  private readonly withBegin: boolean;
  /** CommandCompletes received so far (BEGIN's, the statement's, COMMIT's). */
  private completes = 0;
  /** Set by COMMIT's own CommandComplete: without it the transaction was not committed, whatever else was answered. */
  private committed = false;

  constructor(config: pg.QueryConfig, callback: QueryCallback, withBegin: boolean) {
    super(config, callback);
    this.withBegin = withBegin;
  }

  prepare(connection: pg.Connection): void {
    if (this.withBegin) writeBegin(connection);
    queryInternals.prepare.call(this, connection);
  }

  // Called by `prepare` (within the cork) after the statement's Bind and Describe: its Execute, then COMMIT's, then
  // the one Sync. `rows` (a cursor's page size) is never set here: commitWith refuses such a config.
  _getRows(connection: pg.Connection): void {
    connection.execute({ portal: '' }, true);
    writeCommit(connection);
  }

  handleCommandComplete(msg: { text?: string }, connection: pg.Connection): void {
    const n = this.completes++ - (this.withBegin ? BEGIN_ANSWERS : 0);
    if (n < 0) return;
    if (n === 1) {
      // A COMMIT of a transaction already aborted answers ROLLBACK (the statement would have failed first, though).
      this.committed = msg.text === 'COMMIT';
      return;
    }
    queryInternals.handleCommandComplete.call(this, msg, connection);
  }

  handleReadyForQuery(connection: pg.Connection): void {
    if (!this.committed) {
      queryInternals.handleError.call(this, new Error('The transaction was not committed: COMMIT was not answered with its statement'), connection);
      return;
    }
    queryInternals.handleReadyForQuery.call(this, connection);
  }
}

/**
 * Runs `config` on `client` as the last statement of the open transaction (`begun`; otherwise BEGIN goes first, in
 * the same write) and commits it, in one round trip once the connection has COMMIT prepared (its first transaction
 * sends COMMIT alone, preparing it). Resolves with the statement's result once committed; rejects with the
 * statement's error (nothing committed, the transaction left aborted, to be rolled back), COMMIT's own (the
 * transaction ended without committing), or a lost connection's (whether it committed is unknown, as for a COMMIT
 * sent alone).
 */
export async function commitWith(client: pg.ClientBase, config: pg.QueryConfig, begun: boolean, before?: BeforeStatement): Promise<pg.QueryResult> {
  if ((config as { rows?: unknown }).rows !== undefined) throw new Error('commitWith cannot read a statement by pages (rows)');
  if (before !== undefined && (begun || !canSendBefore(client, before))) {
    // Not in the same write (its text new on the connection): alone, first.
    await runBefore(client, before);
    return commitWith(client, config, begun);
  }
  if (!commitPrepared.has(client) || (!begun && !isBeginPrepared(client))) {
    if (before !== undefined) await runBefore(client, before);
    if (!begun) await begin(client);
    const result = await runQuery(client, config);
    await runQuery(client, { name: COMMIT_STATEMENT, text: 'COMMIT', values: [] });
    commitPrepared.add(client);
    return result;
  }
  return submitExtended(
    client,
    config,
    (extended, callback) => new StatementThenCommitQuery(extended, callback, !begun),
    before === undefined ? undefined : (query) => queueWithBefore(client, before, query),
  );
}
