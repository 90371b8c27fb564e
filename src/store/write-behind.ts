import { COMMIT_WITH_LAST, type AheadStatement, type QueryOptions, type QueryResult, type Tx } from './database.ts';
import { numberedParts, textOfShape } from './statement-texts.ts';

/**
 * A write held back to go with the next ones: the common table expressions of one change, each named with `prefix`
 * so that several changes can share one statement, and `p(i)` naming its i-th parameter (from 1).
 */
export interface HeldWrite {
  /** What it changes (`Type/id` each): two changes of one row never share a statement (the second would not see the first). */
  keys: string[];
  /** Names the text `ctes` writes (the same for the same `p` and prefix), so that a statement of such writes is built once. */
  shape: string;
  ctes: (p: (i: number) => string, prefix: string) => string;
  params: unknown[];
  /**
   * Takes `next`, held right after it, into this write's own statement part (its rows joining the same INSERTs), so
   * that the text stays the same whatever the number of rows; false when it cannot (another kind of write). The
   * creates of a native record (eight versions) were 24 INSERTs of a statement, each set up at every execution.
   */
  absorb?: (next: HeldWrite) => boolean;
}

/**
 * A write transaction's connection that holds writes back (resource versions, src/store/resource-store.ts) and
 * sends them together, as the common table expressions of ONE statement, just before the next statement of the
 * transaction that may read one of them (any statement not saying what it reads), in that statement's own round trip
 * (QueryOptions.ahead, src/store/statement-ahead.ts), or at its end (`flush`). Every read
 * in the transaction goes through here, so it sees every write before it that it could read, as if each had been sent
 * at once; what changes is how many round trips carry them.
 * A native record's nine resources went in nine statements; most of them follow each other with nothing read
 * between, and each round trip cost PostgreSQL and the gateway more than the rows it carried.
 * A refused write (a constraint) is reported by the statement that carries it, later than it was made; the
 * transaction is rolled back all the same.
 */
export class WriteBehindTx implements Tx {
  private readonly inner: Tx;
  private held: HeldWrite[] = [];
  private readonly keys = new Set<string>();
  /** Statements held (`holdStatement`), with the writes held before each as a statement of their own, in order. */
  private pending: AheadStatement[] = [];

  constructor(inner: Tx) {
    this.inner = inner;
  }

  /** Holds `write` back until the next statement (an earlier held change of the same row is sent first). */
  async hold(write: HeldWrite): Promise<void> {
    for (const key of write.keys) {
      if (!this.keys.has(key)) continue;
      await this.flush();
      break;
    }
    const last = this.held.at(-1);
    if (!last?.absorb?.(write)) this.held.push(write);
    for (const key of write.keys) this.keys.add(key);
  }

  /**
   * Holds `statement` back to go just before the transaction's next statement, after the writes held before it, in
   * that statement's round trip (QueryOptions.ahead): it must return no rows, and its result is not read. Until
   * it has gone, every statement goes after it (what a statement says it reads is not looked at; the writes held
   * after it go too, unless that statement reads none of them). A Task create's party propagation went in a round
   * trip of its own, with the Task's write ahead of it; its commit batch followed in another. Now BEGIN, the write,
   * the propagation, the commit batch and COMMIT share one.
   * `readsNoWrite`: the statement reads no row the writes held before it change (a group's advisory lock), so it goes
   * ahead of them and they stay held, to go later with the writes after them.
   */
  holdStatement(statement: AheadStatement, options?: { readsNoWrite?: true }): void {
    if (this.held.length > 0 && options?.readsNoWrite !== true) this.pending.push(writesStatement(this.takeHeld()));
    this.pending.push(statement);
  }

  /**
   * Holds the read `sql` back to go just before the transaction's next statement, in its round trip, as
   * `holdStatement` does (the writes held before it go first), its rows kept for `HeldRead.rows()`; that sends it
   * alone if no statement has taken it by then. A native record's ledger head went in a round trip of its own before
   * its identity lookups, which need nothing of it: BEGIN, the group's lock, the head and the lookups now share one.
   */
  holdRead<R>(sql: string, params: unknown[]): HeldRead<R> {
    const read = new HeldRead<R>(() => this.flush());
    this.holdStatement({ sql, params, answer: (rows) => read.take(rows as R[]) });
    return read;
  }

  /** The statements held, no longer held here (the caller sends them); the writes held stay. */
  private takePending(): AheadStatement[] {
    const pending = this.pending;
    this.pending = [];
    return pending;
  }

  /** The statements held and then the writes held (as one statement), in order, no longer held here. */
  private takeAll(): AheadStatement[] {
    const all = this.pending;
    this.pending = [];
    if (this.held.length > 0) all.push(writesStatement(this.takeHeld()));
    return all;
  }

  /**
   * The writes held, handed over to go in the caller's own statement instead of one of their own, when that
   * statement reads none of them (`reads`, as QueryOptions.reads); otherwise none, and they go first as usual. For
   * the transaction's last statement (its commit batch, src/fhir/write-phases.ts), whose parts read no row written
   * in the transaction: a native record's Provenance, written after the party propagation, was a round trip alone.
   */
  takeUnread(reads: readonly string[]): HeldWrite[] {
    return readsAny(reads, this.held) ? [] : this.takeHeld();
  }

  /** What is held, in the order held, no longer held here (the caller sends it). */
  private takeHeld(): HeldWrite[] {
    const writes = this.held;
    this.held = [];
    this.keys.clear();
    return writes;
  }

  /**
   * Sends what is held, in the order held, in one statement; with `commit`, as the transaction's last statement
   * (QueryOptions.commit). Resolves false when nothing was held (nothing sent: the transaction then commits alone).
   */
  async flush(options?: { commit?: boolean }): Promise<boolean> {
    if (this.pending.length > 0) {
      // The last one carries the others ahead of it (and COMMIT, with `commit`): one round trip where it can.
      const ahead = this.takeAll();
      const last = ahead.pop() as AheadStatement;
      const r = await this.inner.query(last.sql, last.params, { ...(options?.commit === true ? COMMIT_WITH_LAST : {}), ahead });
      last.answer?.(r.rows);
      return true;
    }
    if (this.held.length === 0) return false;
    await runWrites(this.inner, this.takeHeld(), options?.commit === true);
    return true;
  }

  /**
   * A statement naming what it reads (`options.reads`) goes before the held writes when none of them is of what it
   * reads: its answer is the same either way, and the writes go on to share a later round trip. A native record's
   * group lookups (Tasks, Organizations) otherwise sent its Patient, Encounter and findings, then its ServiceRequest,
   * each in a statement of their own. Anything else sends every held write first, in the order held.
   */
  async query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    const reads = options?.reads;
    if (this.pending.length > 0) {
      if (options?.ahead !== undefined) await this.flush();
      // The writes held after the last statement held go too, unless this one says it reads none of them (and does
      // not commit: nothing goes after a statement that commits).
      else {
        const alone = reads !== undefined && options?.commit !== true && !readsAny(reads, this.held);
        return this.inner.query<R>(sql, params, { ...options, ahead: alone ? this.takePending() : this.takeAll() });
      }
    }
    if (reads === undefined || options?.commit === true || readsAny(reads, this.held)) {
      // In the statement's own round trip where the connection can (QueryOptions.ahead), not in one before it.
      if (this.held.length > 0 && options?.commit !== true && options?.ahead === undefined) {
        return this.inner.query<R>(sql, params, { ...options, ahead: [writesStatement(this.takeHeld())] });
      }
      await this.flush();
    }
    return this.inner.query<R>(sql, params, options);
  }

  async exec(sql: string): Promise<void> {
    await this.flush();
    return this.inner.exec(sql);
  }
}

/** A read held to share the round trip of the transaction's next statement (WriteBehindTx.holdRead). */
export class HeldRead<R> {
  private answered: R[] | undefined;
  private readonly send: () => Promise<unknown>;

  constructor(send: () => Promise<unknown>) {
    this.send = send;
  }

  /** Its rows, from the statement that took it along, or sent now (with whatever else is held) if none has yet. */
  async rows(): Promise<R[]> {
    if (this.answered === undefined) await this.send();
    if (this.answered === undefined) throw new Error('A read held for the next statement was not answered');
    return this.answered;
  }

  take(rows: R[]): void {
    this.answered = rows;
  }
}

/** `sql` read with `tx`'s next statement (WriteBehindTx.holdRead) or, on any other transaction, when its rows are asked for. */
export function readWithNext<R>(tx: Tx, sql: string, params: unknown[]): HeldRead<R> {
  if (tx instanceof WriteBehindTx) return tx.holdRead<R>(sql, params);
  const read: HeldRead<R> = new HeldRead<R>(async (): Promise<void> => read.take((await tx.query<R>(sql, params)).rows));
  return read;
}

/**
 * Whether a statement reading `reads` would read any of `writes`. Loops, not some() with callbacks made at each call:
 * such a closure lost its optimised code whenever no live one held it, and was compiled again (--trace-opt).
 */
function readsAny(reads: readonly string[], writes: readonly HeldWrite[]): boolean {
  for (const write of writes) for (const key of write.keys) if (readsWrite(reads, key)) return true;
  return false;
}

/** Whether a statement reading `reads` (types, or `Type/id` keys) would read the row `key` (`Type/id`) writes. */
function readsWrite(reads: readonly string[], key: string): boolean {
  for (const read of reads) if (read === key || (key.startsWith(read) && key.charCodeAt(read.length) === 47)) return true;
  return false;
}

/** Names the texts `writeCtes` makes of `writes` (their shapes and parameter counts), for `textOfShape`. */
export const writesShape = (writes: readonly HeldWrite[]): string => writes.map((write) => `${write.shape}:${write.params.length}`).join(' ');

/** The common table expressions of `writes`, in their order; their parameters (`params`, in order) are `$1`… ( `$(from + 1)`…). */
export function writeCtes(writes: readonly HeldWrite[], from = 0): string[] {
  return numberedParts(writes, (write, p, n) => write.ctes(p, `w${n}_`), from);
}

/** Runs `writes` in one statement on `tx`, in their order (with `commit`, as its last statement: QueryOptions.commit). */
export async function runWrites(tx: Tx, writes: readonly HeldWrite[], commit = false): Promise<void> {
  const { sql, params } = writesStatement(writes);
  await tx.query(sql, params, commit ? COMMIT_WITH_LAST : undefined);
}

/**
 * The one statement of `writes`. It returns no rows (`WHERE false`; its data-modifying CTEs run all the same), so that
 * it can go ahead of another statement in one round trip (QueryOptions.ahead), where no row description precedes it.
 */
function writesStatement(writes: readonly HeldWrite[]): { sql: string; params: unknown[] } {
  const sql = textOfShape(`writes ${writesShape(writes)}`, () => `WITH ${writeCtes(writes).join(',\n')} SELECT 1 WHERE false`);
  return { sql, params: writes.flatMap((write) => write.params) };
}
