import pg from 'pg';
import { BEGIN_ANSWERS, isBeginPrepared, writeBegin } from './begin-with-first-statement.ts';
import { isParsed, prepareValue, queryInternals, submitExtended, type QueryCallback } from './pg-query-internals.ts';

/**
 * A statement whose result nobody reads (a write transaction's held writes, src/store/write-behind.ts) sent in the
 * same socket write as the statement after it, answered by one ReadyForQuery: one round trip fewer. A Task create
 * sent its write, then the party propagation that reads it, each in a round trip of its own; a round trip costs the
 * gateway a socket write and a wake-up for the answer and the PostgreSQL backend a read and a wake-up of its own,
 * whatever the statement does.
 *
 * The statement ahead goes as Bind + Execute of a statement already prepared on the connection (no Parse, no
 * Describe: it must return no rows), then the next statement's own messages and the one Sync. PostgreSQL runs them in
 * order and skips the rest after an error until the Sync: the statement after never runs when the one ahead failed,
 * and the query reports the failure of the one ahead (a constraint of a held write) as that of its own, leaving the
 * transaction aborted, to be rolled back as before. The answers reach this query: the CommandComplete of BEGIN (when
 * it goes first) and of the statement ahead are passed over, so that the statement's result is the query's only
 * result.
 *
 * Only when both statements are prepared on the connection already: a Parse sent ahead would be recorded by pg as the
 * next statement's (its ParseComplete goes to the active query), which then, had the one ahead failed, would be taken
 * for prepared when it is not. The first use of a text on a connection goes in two round trips, as before.
 */

/** A prepared statement's name and values, run ahead of another (its rows, if any, must be none). */
export interface StatementAhead {
  name: string;
  values: unknown[];
}

class AheadThenQuery extends pg.Query {
  private readonly ahead: StatementAhead;
  private readonly withBegin: boolean;
  /** CommandCompletes to pass over before the statement's own: BEGIN's (when it goes first) and the one ahead's. */
  private skip: number;

  constructor(config: pg.QueryConfig, callback: QueryCallback, ahead: StatementAhead, withBegin: boolean) {
    super(config, callback);
    this.ahead = ahead;
    this.withBegin = withBegin;
    this.skip = withBegin ? BEGIN_ANSWERS + 1 : 1;
  }

  // pg's `submit` corks the socket, calls this and uncorks: everything goes in one write.
  prepare(connection: pg.Connection): void {
    if (this.withBegin) writeBegin(connection);
    connection.bind({ statement: this.ahead.name, portal: '', values: this.ahead.values, valueMapper: prepareValue } as never, true);
    connection.execute({ portal: '' }, true);
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

/**
 * Runs `ahead`, then `config`, on `client` in one round trip (starting the transaction first when `begin`); undefined
 * when it cannot (a statement not prepared on the connection yet, BEGIN not prepared): the caller then sends them apart.
 */
export function runWithAhead(client: pg.ClientBase, ahead: StatementAhead, config: pg.QueryConfig, begin: boolean): Promise<pg.QueryResult> | undefined {
  if (!isParsed(client, ahead.name) || !isParsed(client, config.name)) return undefined;
  if (begin && !isBeginPrepared(client)) return undefined;
  if ((config as { rows?: unknown }).rows !== undefined) return undefined;
  return submitExtended(client, config, (extended, callback) => new AheadThenQuery(extended, callback, ahead, begin));
}
