import type { Queryable } from '../store/database.ts';
import type { AuditRow } from './event.ts';
import { insertAuditRows } from './store.ts';

interface Waiting {
  rows: AuditRow[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

// One INSERT carries at most this many rows: a statement of bounded size, however long the queue.
const MAX_ROWS_PER_STATEMENT = 1000;

/**
 * Group commit for the audit rows written outside a change's own transaction (reads, searches, refusals):
 * each request still waits until its rows are committed before it answers (NEN 7513: no read unrecorded),
 * but the rows of all requests waiting at that moment go in one statement and one commit instead of one
 * each. Nothing waits for a timer: with one request in flight its rows are written at once, as before;
 * while a write is under way, the rows of the requests arriving meanwhile gather for the next one.
 * A group that fails is written again request by request, so one request's bad row fails only that request.
 */
export class AuditGroupCommit {
  private readonly db: Queryable;
  private queue: Waiting[] = [];
  private writing = false;
  /** Statements written and rows in them since start (metrics, the bench). */
  statements = 0;
  rows = 0;

  constructor(db: Queryable) {
    this.db = db;
  }

  /** Resolves once `rows` are committed; rejects when they could not be. */
  write(rows: AuditRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.take();
        await this.writeGroup(group);
      }
    } finally {
      this.writing = false;
    }
  }

  /** The waiting requests whose rows fit in one statement (at least one, however many rows it has). */
  private take(): Waiting[] {
    let count = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || count + (this.queue[n]?.rows.length ?? 0) <= MAX_ROWS_PER_STATEMENT)) {
      count += this.queue[n]?.rows.length ?? 0;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async writeGroup(group: Waiting[]): Promise<void> {
    try {
      await this.insert(group.flatMap((w) => w.rows));
      for (const w of group) w.resolve();
      return;
    } catch (err) {
      if (group.length === 1) {
        group[0]?.reject(err);
        return;
      }
    }
    for (const w of group) {
      try {
        await this.insert(w.rows);
        w.resolve();
      } catch (err) {
        w.reject(err);
      }
    }
  }

  private async insert(rows: AuditRow[]): Promise<void> {
    await insertAuditRows(this.db, rows);
    this.statements++;
    this.rows += rows.length;
  }
}
