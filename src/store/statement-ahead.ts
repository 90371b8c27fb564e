import pg from 'pg';
import { BEGIN_ANSWERS, isBeginPrepared, writeBegin } from './begin-with-first-statement.ts';
import { isCommitPrepared, writeCommit } from './commit-with-last-statement.ts';
import { isParsed, prepareValue, queryInternals, submitExtended, type QueryCallback } from './pg-query-internals.ts';
import { canSendBefore, queueWithBefore, type BeforeStatement } from './statement-before.ts';

/**
 * A statement whose result nobody reads (a write transaction's held writes, src/store/write-behind.ts) sent in the
 * same socket write as the statement after it, answered by one ReadyForQuery: one round trip fewer. A Task create
 * sent its write, then the party propagation that reads it, each in a round trip of its own; a round trip costs the
 * gateway a socket write and a wake-up for the answer and the PostgreSQL backend a read and a wake-up of its own,
 * whatever the statement does.
 *
 * The statement ahead goes as Bind + Execute of a statement already prepared on the connection (no Parse; no
 * Describe, so it must return no rows, unless it has `answer`: then a Describe too, and its rows, parsed by pg's own
 * Result, go to `answer`: a native record's ledger head ahead of its identity lookups), then the next statement's own
 * messages and the one Sync. PostgreSQL runs them in
 * order and skips the rest after an error until the Sync: the statement after never runs when the one ahead failed,
 * and the query reports the failure of the one ahead (a constraint of a held write) as that of its own, leaving the
 * transaction aborted, to be rolled back as before. The answers reach this query: the CommandComplete of BEGIN (when
 * it goes first) and of the statement ahead are passed over, so that the statement's result is the query's only
 * result. With `commit` (the transaction's last statement, src/store/commit-with-last-statement.ts) COMMIT goes after
 * the statement, before the one Sync: a delivery worker's claim with the audit rows of the answers it records ahead.
 *
 * Only when both statements are prepared on the connection already: a Parse sent ahead would be recorded by pg as the
 * next statement's (its ParseComplete goes to the active query), which then, had the one ahead failed, would be taken
 * for prepared when it is not. The first use of a text on a connection goes in two round trips, as before.
 */

/** A prepared statement's name and values, run ahead of another. */
export interface StatementAhead {
  name: string;
  values: unknown[];
  /**
   * Takes its rows, parsed as any query's (it goes with a Describe, so that its row description comes before them).
   * Without it, the statement must return no rows.
   */
  answer?: (rows: unknown[]) => void;
}

/** pg's result of one statement: the rows of a statement ahead with `answer` are parsed into one of their own. */
const Result = (pg as unknown as { Result: new (rowMode: undefined, types: unknown) => PgResult }).Result;
interface PgResult {
  rows: unknown[];
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
}

class AheadThenQuery extends pg.Query {
  private readonly ahead: readonly StatementAhead[];
  private readonly withBegin: boolean;
  private readonly withCommit: boolean;
  /**
   * The answers that come before the statement's own: BEGIN's CommandCompletes still to come (when it goes first),
   * then the index of the statement ahead whose answers come now.
   */
  private beginLeft: number;
  private aheadAt = 0;
  /** The rows of the statement ahead answering now, when it has `answer`. */
  private aheadRows: PgResult | undefined;
  /** Whether the statement's own CommandComplete has come: with `withCommit`, the next is COMMIT's. */
  private answered = false;
  /** Set by COMMIT's own CommandComplete: without it the transaction was not committed, whatever else was answered. */
  private committed = false;

  constructor(config: pg.QueryConfig, callback: QueryCallback, ahead: readonly StatementAhead[], withBegin: boolean, withCommit: boolean) {
    super(config, callback);
    this.ahead = ahead;
    this.withBegin = withBegin;
    this.withCommit = withCommit;
    this.beginLeft = withBegin ? BEGIN_ANSWERS : 0;
  }

  /** Whether the answers coming now are BEGIN's or a statement ahead's, not the statement's own. */
  private get beforeOwn(): boolean {
    return this.beginLeft > 0 || this.aheadAt < this.ahead.length;
  }

  // pg's `submit` corks the socket, calls this and uncorks: everything goes in one write.
  prepare(connection: pg.Connection): void {
    if (this.withBegin) writeBegin(connection);
    // In a loop over the array, not forEach: no callback made per query.
    for (let i = 0; i < this.ahead.length; i++) {
      const ahead = this.ahead[i] as StatementAhead;
      connection.bind({ statement: ahead.name, portal: '', values: ahead.values, valueMapper: prepareValue } as never, true);
      if (ahead.answer !== undefined) connection.describe({ type: 'P', name: '' } as never, true);
      connection.execute({ portal: '' }, true);
    }
    queryInternals.prepare.call(this, connection);
  }

  // Called by `prepare` after the statement's Bind and Describe: its Execute, then (as commit-with-last-statement.ts
  // does) COMMIT's and the one Sync. `rows` is never set here: runWithAhead refuses such a config.
  _getRows(connection: pg.Connection): void {
    if (!this.withCommit) {
      queryInternals._getRows.call(this, connection);
      return;
    }
    connection.execute({ portal: '' }, true);
    writeCommit(connection);
  }

  // While answers of BEGIN or of the statements ahead come (`beforeOwn`), a row description and rows are a statement
  // ahead's: its `answer` gets them, parsed by pg's own Result with this query's types.
  handleRowDescription(msg: { fields: unknown[] }): void {
    if (!this.beforeOwn) {
      queryInternals.handleRowDescription.call(this, msg);
      return;
    }
    this.aheadRows = new Result(undefined, (this as unknown as { _result: { _types: unknown } })._result._types);
    this.aheadRows.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (!this.beforeOwn) {
      queryInternals.handleDataRow.call(this, msg);
      return;
    }
    // An error parsing it (a value its type's parser refuses) fails the query, as in pg's own.
    const rows = this.aheadRows;
    if (rows !== undefined) rows.addRow(rows.parseRow(msg.fields));
  }

  handleCommandComplete(msg: { text?: string }, connection: pg.Connection): void {
    if (this.beforeOwn) {
      if (this.beginLeft > 0) {
        this.beginLeft--;
        return;
      }
      const ahead = this.ahead[this.aheadAt++];
      ahead?.answer?.(this.aheadRows?.rows ?? []);
      this.aheadRows = undefined;
      return;
    }
    if (this.answered) {
      // A COMMIT of a transaction already aborted answers ROLLBACK (the statement would have failed first, though).
      this.committed = msg.text === 'COMMIT';
      return;
    }
    this.answered = true;
    queryInternals.handleCommandComplete.call(this, msg, connection);
  }

  handleReadyForQuery(connection: pg.Connection): void {
    if (this.withCommit && !this.committed) {
      queryInternals.handleError.call(this, new Error('The transaction was not committed: COMMIT was not answered with its statement'), connection);
      return;
    }
    queryInternals.handleReadyForQuery.call(this, connection);
  }
}

/**
 * Runs `aheads` (in order), then `config`, on `client` in one round trip (starting the
 * transaction first when `begin`, committing it after when `commit`); undefined when it cannot (a statement not
 * prepared on the connection yet, BEGIN or COMMIT not prepared): the caller then sends them apart. With `commit`, it resolves once COMMIT was answered; a failure of
 * either statement leaves COMMIT unrun and the transaction aborted, to be rolled back. `before` (with `begin`): a
 * statement of its own to go first in the same write (src/store/statement-before.ts); undefined when it cannot.
 */
export function runWithAhead(client: pg.ClientBase, aheads: readonly StatementAhead[], config: pg.QueryConfig, begin: boolean, commit = false, before?: BeforeStatement): Promise<pg.QueryResult> | undefined {
  for (const a of aheads) if (!isParsed(client, a.name)) return undefined;
  if (!isParsed(client, config.name)) return undefined;
  if (before !== undefined && (!begin || !canSendBefore(client, before))) return undefined;
  if (begin && !isBeginPrepared(client)) return undefined;
  if (commit && !isCommitPrepared(client)) return undefined;
  if ((config as { rows?: unknown }).rows !== undefined) return undefined;
  return submitExtended(
    client,
    config,
    (extended, callback) => new AheadThenQuery(extended, callback, aheads, begin, commit),
    before === undefined ? undefined : (query) => queueWithBefore(client, before, query),
  );
}
