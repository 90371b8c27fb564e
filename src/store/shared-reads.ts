import type { Queryable } from './database.ts';

interface Waiting<R> {
  type: string;
  id: string;
  resolve: (row: R | undefined) => void;
  reject: (err: unknown) => void;
}

// One statement reads at most this many rows: bounded, however long the queue.
const MAX_KEYS_PER_STATEMENT = 500;
// Statements under way at once: with one, a second request arriving beside the first waited a whole round trip for
// it (two clients: 0.71 of the reads per second); two keep both cores busy and still gather under load.
const IN_FLIGHT = 2;

/**
 * Reads of one row by key outside any transaction (a FHIR read of a current version), gathered the way the audit's
 * group commit gathers its rows: a read that arrives while fewer than two statements are under way is sent at once,
 * alone, in the statement it always had (`single`); the reads arriving while two are under way wait for one of them
 * and then go together in one statement (`many`, a row per key with the key's position `n`). Nothing waits for a
 * timer. Each read still sees every commit made before it arrived (its statement is sent after that), and rows are
 * parsed per key, so no two callers share an object. Issue 19: under load a read was one round trip of its own, its statement's fixed costs
 * (the driver, a socket write and a wake-up on both sides, executor start-up) larger than the row's.
 */
export class SharedReads<R> {
  private readonly db: Queryable;
  private readonly single: string;
  private readonly many: string;
  private queue: Waiting<R>[] = [];
  private inFlight = 0;

  /**
   * `single` takes `$1` type and `$2` id; `many` takes `$1` types and `$2` ids (text[] each, the same length) and
   * returns each found row with its key's 1-based position as `n`.
   */
  constructor(db: Queryable, single: string, many: string) {
    this.db = db;
    this.single = single;
    this.many = many;
  }

  read(type: string, id: string): Promise<R | undefined> {
    return new Promise<R | undefined>((resolve, reject) => {
      this.queue.push({ type, id, resolve, reject });
      if (this.inFlight < IN_FLIGHT) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight++;
    try {
      while (this.queue.length > 0) await this.send(this.queue.splice(0, MAX_KEYS_PER_STATEMENT));
    } finally {
      this.inFlight--;
    }
  }

  private async send(group: Waiting<R>[]): Promise<void> {
    try {
      const [only] = group;
      if (only && group.length === 1) {
        const r = await this.db.query<R>(this.single, [only.type, only.id]);
        only.resolve(r.rows[0]);
        return;
      }
      const r = await this.db.query<R & { n: number | string }>(this.many, [group.map((w) => w.type), group.map((w) => w.id)]);
      const found = new Array<R | undefined>(group.length);
      for (const row of r.rows) found[Number(row.n) - 1] = row;
      group.forEach((w, i) => w.resolve(found[i]));
    } catch (err) {
      for (const w of group) w.reject(err);
    }
  }
}
