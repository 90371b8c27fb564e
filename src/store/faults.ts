/**
 * Which database errors are faults of the moment rather than of the request, and what to do about them.
 * Pure functions of the error (and of a random number), so that the policy is tested on its own.
 *
 * - `conflict`: PostgreSQL broke off the transaction to settle a conflict with another one (serialization
 *   failure 40001, deadlock 40P01). Nothing of it was stored, and the same transaction may well succeed now:
 *   retried a few times, then 503.
 * - `unavailable`: the database cannot be reached or is going away (restart, failover, a dropped connection,
 *   too many connections, a standby that refuses writes). Not retried inside the request: whether a
 *   COMMIT cut off in flight was applied is unknown, and waiting for a restart would hold the request
 *   longer than its client waits. 503 with `Retry-After`.
 * - `timeout`: a statement ran past `statement_timeout`/`lock_timeout` or the client's query timeout. 503.
 */
export type DatabaseFault = 'conflict' | 'unavailable' | 'timeout';

const CONFLICT_CODES = new Set(['40001', '40P01']);
// 25006: a read-only transaction (a standby after a failover) refused a write; 25P03: the session idled too
// long in a transaction and was ended; 57P01-57P03: administrator shutdown, crash shutdown, not yet accepting
// connections (a restart); class 08: connection exceptions; class 53: insufficient resources (too many
// connections, out of memory, disk full).
const UNAVAILABLE_CODES = new Set(['25006', '25P03', '57P01', '57P02', '57P03', '58030']);
const UNAVAILABLE_CLASSES = new Set(['08', '53']);
// 57014: statement_timeout (or a cancelled query); 55P03: lock_timeout.
const TIMEOUT_CODES = new Set(['57014', '55P03']);
// The socket errors of a connection that cannot be made or was cut off.
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
// node-postgres reports its own connection failures without a code; these are its messages (pg 8, pg-pool 3).
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, // unexpectedly, due to connection timeout, or by the server
  /^timeout exceeded when trying to connect$/, // pool: connectionTimeoutMillis
  /is not queryable$/, // a client that already lost its connection
  /^Cannot use a pool after calling end on the pool$/, // the gateway is shutting down
];
/** The error of a statement given up by the client-side read timeout: pg's own for its `query_timeout`, and the gateway's (src/store/query-deadline.ts). */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

function classifyOne(e: ErrorLike): DatabaseFault | undefined {
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined) {
    if (CONFLICT_CODES.has(code)) return 'conflict';
    if (TIMEOUT_CODES.has(code)) return 'timeout';
    if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_ERRNO.has(code)) return 'unavailable';
    if (/^[0-9A-Z]{5}$/.test(code) && UNAVAILABLE_CLASSES.has(code.slice(0, 2))) return 'unavailable';
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (message === QUERY_READ_TIMEOUT) return 'timeout';
  if (UNAVAILABLE_MESSAGES.some((m) => m.test(message))) return 'unavailable';
  return undefined;
}

/** The fault `err` is (looking through `cause` and an AggregateError's `errors`), or undefined for anything else. */
export function classifyDatabaseError(err: unknown, depth = 0): DatabaseFault | undefined {
  if (!err || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as ErrorLike;
  const own = classifyOne(e);
  if (own) return own;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = classifyDatabaseError(inner, depth + 1);
      if (found) return found;
    }
  }
  return classifyDatabaseError(e.cause, depth + 1);
}

export interface RetryPolicy {
  /** How many times a transaction runs at most (the first attempt included). */
  attempts: number;
  /** The wait before the first retry; each next one up to twice as long. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Three attempts within about a quarter of a second: a conflict of the moment is usually over by then. */
export const TRANSACTION_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 };

/**
 * How long to wait before running a transaction again after attempt `attempt` (1-based) failed with `err`,
 * or undefined when it must not run again: only conflicts are retried, and only `policy.attempts` times in all.
 * Half the exponential bound plus a random part of the other half ("equal jitter"): two transactions that
 * collided do not collide again in step.
 */
export function retryDelayMs(err: unknown, attempt: number, policy: RetryPolicy = TRANSACTION_RETRY, random: () => number = Math.random): number | undefined {
  if (classifyDatabaseError(err) !== 'conflict') return undefined;
  if (attempt >= policy.attempts) return undefined;
  const bound = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(bound / 2 + (random() * bound) / 2);
}
