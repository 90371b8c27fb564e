import type { Socket } from 'node:net';
import pg from 'pg';

/**
 * What src/store/begin-with-first-statement.ts, commit-with-last-statement.ts and statement-ahead.ts rely on in pg 8
 * (node_modules/pg/lib/query.js, client.js, utils.js) beyond its type declarations, in one place: their tests fail
 * when these change.
 */
export interface QueryInternals {
  /** Writes the statement's messages (Parse when new, Bind, Describe, then `_getRows`: Execute, Sync); called by `submit` between cork and uncork. */
  prepare(connection: pg.Connection): void;
  /** Writes the statement's Execute and the Sync (or a Flush when reading by pages of `rows`). */
  _getRows(connection: pg.Connection, rows?: number): void;
  handleRowDescription(msg: { fields: unknown[] }): void;
  handleDataRow(msg: { fields: unknown[] }): void;
  handleCommandComplete(msg: { text?: string }, connection: pg.Connection): void;
  handleReadyForQuery(connection: pg.Connection): void;
  handleError(err: Error, connection: pg.Connection): void;
}

/** pg's own implementations, for a subclass to call around what it adds. */
export const queryInternals = pg.Query.prototype as unknown as QueryInternals;

/** How pg's Query hands its result (or error) back. */
export type QueryCallback = (err: Error | undefined, result: unknown) => void;

/** pg's own serialisation of a parameter value (arrays, dates, JSON), as its Query uses for Bind. */
export const prepareValue = (pg as unknown as { utils: { prepareValue: (value: unknown) => unknown } }).utils.prepareValue;

/**
 * Whether the named statement is prepared on `client`'s connection: pg records it at its ParseComplete (one whose Parse
 * was sent but not yet answered is in `submittedNamedStatements`, not counted here).
 */
export function isParsed(client: pg.ClientBase, name: string | undefined): boolean {
  if (name === undefined) return false;
  const connection = (client as unknown as { connection: { parsedStatements: Record<string, string> } }).connection;
  return connection.parsedStatements[name] !== undefined;
}

/**
 * Runs `config` on `client` as the Query subclass `make` builds, by the extended protocol even for a statement without
 * a name or values (pg would send those as a simple query: `queryMode`, which pg reads but its type declarations leave
 * out), resolving with the statement's result. `queue` puts the query on the client (default: `client.query`; a
 * statement to go before it in the same write: src/store/statement-before.ts).
 */
export function submitExtended(
  client: pg.ClientBase,
  config: pg.QueryConfig,
  make: (config: pg.QueryConfig, callback: QueryCallback) => pg.Query,
  queue: (query: pg.Query) => void = (query) => client.query(query),
): Promise<pg.QueryResult> {
  return resultOf(Object.assign({ ...config }, { queryMode: 'extended' }), make, queue);
}

/** The result of the query `make` builds from `config` and `queue` puts on a client: its callback, a promise. */
function resultOf(config: pg.QueryConfig, make: (config: pg.QueryConfig, callback: QueryCallback) => pg.Query, queue: (query: pg.Query) => void): Promise<pg.QueryResult> {
  return new Promise<pg.QueryResult>((resolve, reject) => {
    queue(make(config, (err, result) => (err ? reject(err) : resolve(result as pg.QueryResult))));
  });
}

/**
 * Whether `client` waits for PostgreSQL's answer to a statement it sent (pg's active query; a query queued behind it
 * has not been sent). pg 8 keeps it in `_activeQuery`.
 */
export function awaitsAnswer(client: pg.ClientBase): boolean {
  return (client as unknown as { _activeQuery: unknown })._activeQuery != null;
}

/** The socket of `client`'s connection (pg's Connection keeps it as `stream`). */
export function socketOf(client: pg.ClientBase): Socket {
  return (client as unknown as { connection: { stream: Socket } }).connection.stream;
}

/**
 * `client.query(config)`, resolving with its result, with a callback of its own instead of pg's promise form. That
 * form stores on the query a callback whose closures hold the query itself, and with the query what the request that
 * sent it allocated survived the young generation's collections (src/store/query-deadline.ts says more): in a plain
 * node:http server running three statements per request this way, 9.8 MB promoted in 15 s against 2.1 MB.
 * `config` is copied, as pg writes the callback into the config it is given.
 */
export function runQuery(client: pg.ClientBase, config: pg.QueryConfig | string): Promise<pg.QueryResult> {
  return resultOf(
    typeof config === 'string' ? { text: config } : { ...config },
    (own, callback) => new pg.Query(own, callback as never),
    (query) => client.query(query),
  );
}
