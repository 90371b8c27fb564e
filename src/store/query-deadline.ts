import type pg from 'pg';
import { QUERY_READ_TIMEOUT } from './faults.ts';
import { awaitsAnswer, socketOf } from './pg-query-internals.ts';

/** What the watchdog keeps per connection: numbers only, never the statement (see below). */
interface Watched {
  /** The socket's bytes read when last looked at. */
  bytesRead: number;
  /** Since when (performance.now()) the connection has been waiting with nothing read; undefined: not waiting. */
  since: number | undefined;
}

/**
 * The client-side read timeout of a pool's connections (`DB_QUERY_TIMEOUT_MS`: a server that stopped answering
 * altogether, a connection silently lost in a failover), kept by one timer per pool that looks at every connection,
 * instead of pg's `query_timeout`.
 *
 * pg's `query_timeout` sets a timer for every statement and wraps the statement's callback in a closure made inside
 * `Client.query`, whose context holds the statement (its text, parameters and rows) and the callback into the request
 * that sent it. With it, what a request allocated survived the young generation's collections and was promoted: in a
 * plain node:http server running three pg statements per request at 100 requests a second, 16 MB promoted in 20 s
 * with it against 2 MB without; the same closure made in a function of its own, holding only the callback, 2 MB
 * (bench/promotion.ts). In the gateway that filled the old generation to a major collection every ten seconds or so
 * at 100 Task creates a second, whose marking and pauses were the notifications' slowest (docs/performance.md, the
 * twenty-sixth round).
 *
 * A connection that waits for an answer and has read nothing for `timeoutMs` is given up: its socket is destroyed with
 * pg's own error, which fails the statement waiting (and those queued behind it) and leaves the connection unusable, so
 * the pool drops it and a late answer is never taken for another statement's. A statement that runs long on the server
 * is ended there first (`statement_timeout`, shorter). The watchdog looks every `tickMs` (a quarter of the timeout, at
 * most a second), so a connection is given up between `timeoutMs` and `timeoutMs + tickMs` after its last byte; pg's
 * timer counted from when the statement was queued.
 */
export class QueryDeadline {
  private readonly watched = new Map<pg.Client, Watched>();
  private readonly timer: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private readonly onGiveUp: ((err: Error) => void) | undefined;

  constructor(pool: pg.Pool, timeoutMs: number, onGiveUp?: (err: Error) => void) {
    this.timeoutMs = timeoutMs;
    this.onGiveUp = onGiveUp;
    pool.on('connect', (client) => this.watched.set(client, { bytesRead: 0, since: undefined }));
    pool.on('remove', (client) => this.watched.delete(client));
    const tickMs = Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
    this.timer = setInterval(() => this.check(performance.now()), tickMs);
    this.timer.unref();
  }

  private check(now: number): void {
    for (const [client, w] of this.watched) {
      if (!awaitsAnswer(client)) {
        w.since = undefined;
        continue;
      }
      const socket = socketOf(client);
      const read = socket.bytesRead;
      if (w.since === undefined || read !== w.bytesRead) {
        w.bytesRead = read;
        w.since = now;
        continue;
      }
      if (now - w.since < this.timeoutMs) continue;
      this.watched.delete(client);
      const err = new Error(QUERY_READ_TIMEOUT);
      this.onGiveUp?.(err);
      socket.destroy(err);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
