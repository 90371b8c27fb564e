import type { Queryable } from '../store/database.ts';
import type { Filters, Payload, SubscriptionStatus } from './spec.ts';

/** Subscription.end has passed (for `s`, the subscription_state row of a claim). */
export const PASSED_END = `s.ends_at IS NOT NULL AND s.ends_at <= now()`;
/** A subscription whose Subscription.end has passed and that is not yet off (columns of subscription_state). */
export const ENDED = `ends_at IS NOT NULL AND ends_at <= now() AND status <> 'off'`;

/** The gateway's own row beside a stored Subscription resource. */
export interface SubscriptionRow {
  id: string;
  owner_ura: string;
  status: SubscriptionStatus;
  secret: string;
  filters: Filters;
  endpoint: string;
  payload: Payload;
  heartbeat_period: number | null;
  timeout_seconds: number;
  events_count: string;
  error_count: string;
  last_error: string | null;
  last_error_at: string | null;
  reads_all: boolean;
  /** The MIME type a FHIR subscriber asked for, when not application/fhir+json (migration 016). */
  content_type: string | null;
  /** Subscription.end (migration 016): nothing is sent after it. */
  ends_at: string | Date | null;
}

export const subscriptionStore = {
  async get(q: Queryable, id: string): Promise<SubscriptionRow | undefined> {
    const r = await q.query<SubscriptionRow>('SELECT * FROM subscription_state WHERE id = $1', [id]);
    return r.rows[0];
  },

  async insert(q: Queryable, row: Omit<SubscriptionRow, 'events_count' | 'error_count' | 'last_error' | 'last_error_at'>): Promise<void> {
    await q.query(
      `INSERT INTO subscription_state (id, owner_ura, status, secret, filters, endpoint, payload, heartbeat_period, timeout_seconds, reads_all, content_type, ends_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [row.id, row.owner_ura, row.status, row.secret, JSON.stringify(row.filters), row.endpoint, row.payload, row.heartbeat_period, row.timeout_seconds, row.reads_all, row.content_type, row.ends_at],
    );
  },

  async update(
    q: Queryable,
    id: string,
    row: { status: SubscriptionStatus; secret?: string; filters: Filters; endpoint: string; payload: Payload; heartbeat_period: number | null; timeout_seconds: number; content_type: string | null; ends_at: string | null },
  ): Promise<void> {
    await q.query(
      `UPDATE subscription_state SET status = $2, secret = coalesce($3, secret), filters = $4, endpoint = $5, payload = $6, heartbeat_period = $7, timeout_seconds = $8,
         content_type = $9, ends_at = $10, handshake_at = CASE WHEN $2 = 'requested' THEN NULL ELSE handshake_at END
       WHERE id = $1`,
      [id, row.status, row.secret ?? null, JSON.stringify(row.filters), row.endpoint, row.payload, row.heartbeat_period, row.timeout_seconds, row.content_type, row.ends_at],
    );
    if (row.status === 'requested') await subscriptionStore.reviveDeadLetters(q, id);
  },

  /**
   * An operator's re-activation of a subscription that is not off: as the subscriber's own (see update). Its owner's
   * URA and the dead letters due again; undefined: no such subscription.
   */
  async reactivate(q: Queryable, id: string): Promise<{ ownerUra: string; revived: number } | undefined> {
    const r = await q.query<{ owner_ura: string }>(`UPDATE subscription_state SET status = 'requested', handshake_at = NULL WHERE id = $1 AND status <> 'off' RETURNING owner_ura`, [id]);
    const ownerUra = r.rows[0]?.owner_ura;
    if (ownerUra === undefined) return undefined;
    return { ownerUra, revived: await subscriptionStore.reviveDeadLetters(q, id) };
  },

  /** Re-activation resumes from the first undelivered event: dead letters are due again. */
  async reviveDeadLetters(q: Queryable, id: string): Promise<number> {
    const r = await q.query(
      `UPDATE subscription_events SET state = 'pending', attempts = 0, first_failed_at = NULL, next_attempt = now(), claimed_by = NULL, claimed_until = NULL
       WHERE subscription_id = $1 AND state = 'dead'`,
      [id],
    );
    return r.rowCount;
  },

  async listOwned(q: Queryable, ura: string): Promise<string[]> {
    const r = await q.query<{ id: string }>('SELECT id FROM subscription_state WHERE owner_ura = $1 ORDER BY id', [ura]);
    return r.rows.map((x) => x.id);
  },

  async setStatus(q: Queryable, id: string, status: SubscriptionStatus, from: SubscriptionStatus[], error?: string): Promise<boolean> {
    const r = await q.query(
      `UPDATE subscription_state SET status = $2,
         error_count = error_count + CASE WHEN $4::text IS NULL THEN 0 ELSE 1 END,
         last_error = coalesce($4, last_error), last_error_at = CASE WHEN $4::text IS NULL THEN last_error_at ELSE now() END
       WHERE id = $1 AND status = ANY($3::text[])`,
      [id, status, from, error ?? null],
    );
    return r.rowCount > 0;
  },

  /** Subscription.end honoured: every subscription whose end has passed is switched off. Returns how many. */
  async endPassed(q: Queryable): Promise<number> {
    const r = await q.query(`UPDATE subscription_state SET status = 'off' WHERE ${ENDED}`);
    return r.rowCount;
  },

  async recordError(q: Queryable, id: string, error: string): Promise<void> {
    await q.query('UPDATE subscription_state SET error_count = error_count + 1, last_error = $2, last_error_at = now() WHERE id = $1', [id, error]);
  },

  async deliveryCounts(q: Queryable, id: string): Promise<{ state: string; n: string; first: string | null }[]> {
    const r = await q.query<{ state: string; n: string; first: string | null }>(
      `SELECT state, count(*)::text AS n, min(event_number)::text AS first FROM subscription_events WHERE subscription_id = $1 GROUP BY state`,
      [id],
    );
    return r.rows;
  },
};
