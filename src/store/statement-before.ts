import pg from 'pg';
import { isParsed, queryInternals, runQuery, type QueryCallback } from './pg-query-internals.ts';

/**
 * A statement that runs in a transaction of its own just before a transaction on the same connection (the delivery
 * worker's numbering of new events before its claim), sent in the same socket write as that transaction's first
 * statement: one round trip instead of two. The numbering and the claim were two round trips between the NOTIFY of a
 * commit and the POST of its notification, each a wake-up of the gateway and of the backend, which on a loaded
 * machine is each a wait for a core.
 *
 * The statement goes as Bind, Describe, Execute of a statement already prepared on the connection and its own Sync,
 * at which PostgreSQL commits it (or, had it failed, rolls it back and skips nothing after the Sync) and answers
 * ReadyForQuery; then the transaction's first statement's own messages (BEGIN with it) and their Sync. So it commits
 * before BEGIN runs, as when it is sent alone and answered first: its locks are not held into the transaction.
 *
 * pg answers one query per ReadyForQuery: the statement is a query of its own (`BeforeQuery`), which writes the
 * messages of the query after it too; that query, queued right behind it, writes nothing when pg makes it the active
 * one at the first ReadyForQuery, and takes the answers that follow. A failure of the statement before (its
 * ErrorResponse) is its own: the query after it runs all the same.
 */

/** A statement to run before a transaction: prepared on the connection (`config.name`), its result unread. */
export interface BeforeStatement {
  config: pg.QueryConfig;
  /** Told of its failure, which does not stop the transaction after it. */
  failed(err: unknown): void;
}

/** Whether `before` may go in the same write as the statement after it: its text prepared on the connection. */
export const canSendBefore = (client: pg.ClientBase, before: BeforeStatement): boolean => isParsed(client, before.config.name);

/** The queries whose messages went with the statement before them: pg makes them active later, when they send nothing. */
const sentAlready = new WeakSet<pg.Query>();

class BeforeQuery extends pg.Query {
  private readonly next: pg.Query;

  constructor(config: pg.QueryConfig, callback: QueryCallback, next: pg.Query) {
    super(config, callback);
    this.next = next;
  }

  // pg's `submit` corks the socket, calls this and uncorks: both statements' messages go in one write.
  prepare(connection: pg.Connection): void {
    queryInternals.prepare.call(this, connection);
    (this.next as unknown as { prepare(connection: pg.Connection): void }).prepare(connection);
    sentAlready.add(this.next);
  }
}

/**
 * `submit` of a query queued behind a statement before it: made active at the first ReadyForQuery, it writes nothing
 * when its messages went with that statement's. One function for every such query, not a closure per query holding
 * it (a closure per statement holding the statement kept whole requests through the young generation's collections:
 * src/store/query-deadline.ts).
 */
function submitUnlessSent(this: pg.Query, connection: pg.Connection): Error | null | undefined {
  if (sentAlready.has(this)) return null;
  return (Object.getPrototypeOf(this) as { submit(connection: pg.Connection): Error | null | undefined }).submit.call(this, connection);
}

/**
 * Queues `before`, then `next` (whose messages `before` writes) on `client`, which must be idle (a transaction's
 * first statement). `next` must be a query that writes its messages in `prepare`, as every extended-protocol one does.
 */
export function queueWithBefore(client: pg.ClientBase, before: BeforeStatement, next: pg.Query): void {
  next.submit = submitUnlessSent;
  const config: pg.QueryConfig = Object.assign({ ...before.config }, { queryMode: 'extended' });
  client.query(new BeforeQuery(config, (err) => err && before.failed(err), next));
  client.query(next);
}

/** Runs `before` alone, a round trip of its own (its text not yet prepared on the connection, or nothing to go with). */
export async function runBefore(client: pg.ClientBase, before: BeforeStatement): Promise<void> {
  try {
    await runQuery(client, before.config);
  } catch (err) {
    before.failed(err);
  }
}
