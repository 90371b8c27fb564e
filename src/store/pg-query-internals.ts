import pg from 'pg';

/**
 * What src/store/begin-with-first-statement.ts and commit-with-last-statement.ts rely on in pg 8's Query
 * (node_modules/pg/lib/query.js) beyond its type declarations, in one place: their tests fail when these change.
 */
export interface QueryInternals {
  /** Writes the statement's messages (Parse when new, Bind, Describe, then `_getRows`: Execute, Sync); called by `submit` between cork and uncork. */
  prepare(connection: pg.Connection): void;
  handleCommandComplete(msg: { text?: string }, connection: pg.Connection): void;
  handleReadyForQuery(connection: pg.Connection): void;
  handleError(err: Error, connection: pg.Connection): void;
}

/** pg's own implementations, for a subclass to call around what it adds. */
export const queryInternals = pg.Query.prototype as unknown as QueryInternals;

type QueryCallback = (err: Error | undefined, result: unknown) => void;

/**
 * Runs `config` on `client` as the Query subclass `make` builds, by the extended protocol even for a statement without
 * a name or values (pg would send those as a simple query: `queryMode`, which pg reads but its type declarations leave
 * out), resolving with the statement's result.
 */
export function submitExtended(client: pg.ClientBase, config: pg.QueryConfig, make: (config: pg.QueryConfig, callback: QueryCallback) => pg.Query): Promise<pg.QueryResult> {
  const extended: pg.QueryConfig = Object.assign({ ...config }, { queryMode: 'extended' });
  return new Promise<pg.QueryResult>((resolve, reject) => {
    client.query(make(extended, (err, result) => (err ? reject(err) : resolve(result as pg.QueryResult))));
  });
}
