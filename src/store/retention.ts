import type { Logger } from 'pino';
import { safeError } from '../observability/logging.ts';
import type { Database } from './database.ts';

/** Windows of 0 keep those rows for ever. Audit rows have no window: they are never pruned (NEN 7513). */
export interface RetentionPolicy {
  deliveredEventsDays: number;
  nativeRecordsDays: number;
  conditionalKeysHours: number;
  batchSize: number;
  intervalSeconds: number;
}

export interface Pruned {
  deliveredEvents: number;
  nativeRecords: number;
  withheldAnswers: number;
  conditionalKeys: number;
}

// Any constant works, as long as every instance uses the same one (and it differs from migrate.ts's).
const RETENTION_LOCK_KEY = 7_513_2027;
/** A pause between two batches: the hot path gets the rows' pages and locks back between them. */
const PAUSE_MS = 20;

/**
 * One batch per table kind: at most `batch` rows, the oldest first, skipping rows a transaction holds (a
 * notification being recorded, a create using its key). Every statement finds its rows through an index of
 * migration 011 (021 for withheld answers), so a batch reads about what it deletes.
 */
const BATCHES: { name: keyof Pruned; window: (p: RetentionPolicy) => number; sql: string }[] = [
  {
    // Delivered notifications; waiting, failing and dead ones stay (dead letters until re-activation). The
    // order per handover needs no delivered row: only undelivered earlier events hold a later one back.
    name: 'deliveredEvents',
    window: (p) => p.deliveredEventsDays,
    sql: `DELETE FROM subscription_events WHERE id IN (
            SELECT id FROM subscription_events
             WHERE state = 'delivered' AND delivered_at < now() - make_interval(days => $1::int)
             ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  },
  {
    // The ledger of native records: every row but each record's latest (the head's sequence number). The
    // latest keeps an identical re-send of it idempotent (same answer, same Location) and is where a
    // superseded send is pointed; the head keeps the sequence numbers. A re-send of an older, pruned
    // sequence number is answered as superseded (200, nothing changed, the latest Location).
    name: 'nativeRecords',
    window: (p) => p.nativeRecordsDays,
    sql: `DELETE FROM native_records WHERE (sender_ura, format, record_id, sequence) IN (
            SELECT n.sender_ura, n.format, n.record_id, n.sequence
              FROM native_records n JOIN native_record_heads h USING (sender_ura, format, record_id)
             WHERE n.received_at < now() - make_interval(days => $1::int) AND n.sequence < h.last_sequence
             ORDER BY n.received_at LIMIT $2 FOR UPDATE OF n SKIP LOCKED)`,
  },
  {
    // A native answer withheld until the placer selects its Twiin invitation (src/handover/withheld-answer.ts):
    // selection writes it and an end without selection drops it, but an invitation that never ends does neither.
    // It is a native record's content, so it goes with the ledger's window, counted from the latest answer.
    name: 'withheldAnswers',
    window: (p) => p.nativeRecordsDays,
    sql: `DELETE FROM withheld_answers WHERE task_id IN (
            SELECT task_id FROM withheld_answers
             WHERE received < now() - make_interval(days => $1::int)
             ORDER BY received LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  },
  {
    // Conditional-create keys only make concurrent creates with the same condition wait for each other; the
    // search decides what matches. A key deleted after its creates committed is simply made again.
    name: 'conditionalKeys',
    window: (p) => p.conditionalKeysHours,
    sql: `DELETE FROM conditional_keys WHERE (resource_type, key) IN (
            SELECT resource_type, key FROM conditional_keys
             WHERE created_at < now() - make_interval(hours => $1::int)
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  },
];

/**
 * Deletes what has outlived its use, in small batches, each its own short transaction under an advisory
 * lock that one instance holds at a time: another instance that finds it taken skips its turn.
 */
export class Retention {
  private readonly db: Database;
  private readonly logger: Logger;
  private readonly policy: RetentionPolicy;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(args: { db: Database; logger: Logger; policy: RetentionPolicy }) {
    this.db = args.db;
    this.logger = args.logger;
    this.policy = args.policy;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.logger.error({ err: safeError(err) }, 'pruning failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.policy.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Prunes until nothing is left or another instance holds the lock; returns the rows deleted per kind. */
  async runOnce(): Promise<Pruned> {
    const pruned: Pruned = { deliveredEvents: 0, nativeRecords: 0, withheldAnswers: 0, conditionalKeys: 0 };
    for (const batch of BATCHES) {
      const window = batch.window(this.policy);
      if (window <= 0) continue;
      for (;;) {
        if (this.stopped) return pruned;
        const n = await this.db.transaction(async (tx) => {
          const lock = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [RETENTION_LOCK_KEY]);
          if (!lock.rows[0]?.ok) return undefined;
          return (await tx.query(batch.sql, [window, this.policy.batchSize])).rowCount;
        });
        if (n === undefined) return pruned;
        pruned[batch.name] += n;
        if (n < this.policy.batchSize) break;
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    }
    if (Object.values(pruned).some((n) => n > 0)) this.logger.info({ pruned }, 'old rows pruned');
    return pruned;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
