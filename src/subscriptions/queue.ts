import { COMMIT_WITH_LAST, type Database, type Queryable } from '../store/database.ts';
import { ENDED, PASSED_END, type SubscriptionRow } from './store.ts';

/** A claimed event with what sending it needs of its subscription, read in the claim itself. */
export interface ClaimedEvent {
  id: string;
  subscription_id: string;
  event_number: string;
  handover_id: string;
  focus_version: string;
  occurred: string | Date;
  attempts: number;
  patient: string | null;
  /** The first failed attempt since the subscription was (re-)activated: the retry horizon counts from here. */
  first_failed_at: string | Date | null;
  sub: SubscriptionRow;
  header: string[] | null;
}

/**
 * A claim lasts as long as its send may take (the subscription's timeout, at most the deadline) plus a margin to
 * render before and record after: HOOK_LEASE_SECONDS − HOOK_SEND_DEADLINE_SECONDS, at least 5 s (config.ts).
 * A subscription with a short timeout is taken over quickly when its instance dies.
 */
export interface Lease {
  deadlineSeconds: number;
  marginSeconds: number;
}
const LEASE_OF_S = 'least(s.timeout_seconds, $4) + $5';

/** Due: waiting and its time has come, or claimed by an instance whose lease ran out (it died or hung). */
const DUE = `((e.state = 'pending' AND e.next_attempt <= now()) OR (e.state = 'sending' AND e.claimed_until < now()))`;
/** An event done (delivered, or nothing to tell): its claim given up, so the next event of its handover may go. */
const MARK_DELIVERED = `state = 'delivered', delivered_at = now(), claimed_by = NULL, claimed_until = NULL`;
/** A handshake due (subscription_state's columns): never tried, or its claim's lease (parameters: deadline, margin) ran out. */
const handshakeDue = (deadline: string, margin: string): string =>
  `status = 'requested' AND (handshake_at IS NULL OR handshake_at < now() - make_interval(secs => least(timeout_seconds, ${deadline}) + ${margin}))`;
/** A heartbeat due: its period has passed since the last heartbeat (or the handshake). */
const HEARTBEAT_DUE = `status = 'active' AND heartbeat_period IS NOT NULL
  AND coalesce(heartbeat_at, handshake_at, 'epoch'::timestamptz) <= now() - make_interval(secs => heartbeat_period)`;

/**
 * The outbox as a queue shared by every instance: claims under a lease (FOR UPDATE SKIP LOCKED, so two
 * instances never claim one event), and what becomes of an event after its attempt.
 */
export const eventQueue = {
  /**
   * Whether a worker's cycle could find anything to do: events to number, events due (a retry's time, an expired
   * lease), a handshake or heartbeat due, a subscription past its end. One statement, so that an idle worker's
   * poll costs one round trip instead of five; the conditions are those of the claims themselves (a superset:
   * an event due but held back by its order or the per-subscription cap still answers yes).
   */
  async anythingDue(q: Queryable, lease: Lease): Promise<boolean> {
    const r = await q.query<{ due: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM subscription_events WHERE event_number IS NULL)
           OR EXISTS (SELECT 1 FROM subscription_events e JOIN subscription_state s ON s.id = e.subscription_id
                       WHERE s.status = 'active' AND e.state IN ('pending', 'sending') AND e.event_number IS NOT NULL AND ${DUE})
           OR EXISTS (SELECT 1 FROM subscription_state WHERE ${handshakeDue('$1', '$2')})
           OR EXISTS (SELECT 1 FROM subscription_state WHERE ${HEARTBEAT_DUE})
           OR EXISTS (SELECT 1 FROM subscription_state WHERE ${ENDED}) AS due`,
      [lease.deadlineSeconds, lease.marginSeconds],
    );
    return r.rows[0]?.due ?? true;
  },

  /**
   * Claims up to `limit` due events, at most `perSubscription` being sent at once to one subscription (counting what
   * other instances are sending), so that a slow receiver's backlog cannot take every slot of an instance; `fast` ones
   * (worker.ts: their last answers were quick) at most `fast.perSubscription`.
   * Order per handover: an event is only claimable when every earlier event of the same subscription and
   * handover is delivered; one being sent is not, so the next waits for the outcome.
   * The same statement also
   * - switches off every subscription whose Subscription.end has passed (the Backport IG's end honoured before anything
   *   more is claimed for it, without a statement of its own in every cycle);
   * - marks `delivered` delivered: events whose receiver answered since the last claim (a statement and a commit per
   *   cycle instead of per event).
   * Every part of a statement sees one snapshot, in which those subscriptions are still on and those events still
   * being sent: the room and the order per handover leave them out by their end and their ids.
   * In a transaction it is the last statement: COMMIT goes with it (worker.ts: the claim's transaction), and `ahead`
   * before it, in the same round trip.
   */
  async claim(
    q: Queryable,
    args: {
      limit: number;
      perSubscription: number;
      /** Subscriptions whose receiver this instance found fast, and the larger number they may have in flight. */
      fast?: { ids: readonly string[]; perSubscription: number };
      lease: Lease;
      workerId: string;
      delivered?: readonly string[];
    },
    /** A statement without rows to run just before, in the same transaction and round trip (the audit rows of `delivered`). */
    ahead?: { sql: string; params: unknown[] },
  ): Promise<ClaimedEvent[]> {
    const r = await q.query<ClaimedEvent>(
      `WITH ended AS (
         UPDATE subscription_state SET status = 'off' WHERE ${ENDED}
       ), finished AS (
         UPDATE subscription_events SET ${MARK_DELIVERED}, last_error = NULL WHERE id = ANY($6::bigint[])
       ), room AS (
         SELECT s.id, (CASE WHEN s.id = ANY($7::text[]) THEN $8::int ELSE $3::int END) - (SELECT count(*) FROM subscription_events b
                                  WHERE b.subscription_id = s.id AND b.state = 'sending' AND b.claimed_until >= now()
                                    AND b.id <> ALL($6::bigint[]))::int AS n
           FROM subscription_state s WHERE s.status = 'active' AND NOT (${PASSED_END})
       ), candidates AS (
         SELECT c.id, c.next_attempt, c.subscription_id, c.event_number
           FROM room CROSS JOIN LATERAL (
             SELECT e.id, e.next_attempt, e.subscription_id, e.event_number
               FROM subscription_events e
              WHERE e.subscription_id = room.id AND e.state <> 'delivered' AND e.event_number IS NOT NULL AND ${DUE}
                AND e.id <> ALL($6::bigint[])
                AND NOT EXISTS (SELECT 1 FROM subscription_events p
                                 WHERE p.subscription_id = e.subscription_id AND p.handover_id = e.handover_id
                                   AND p.event_number < e.event_number AND p.state <> 'delivered' AND p.id <> ALL($6::bigint[]))
              ORDER BY e.next_attempt, e.event_number
              LIMIT greatest(room.n, 0)
           ) c
          ORDER BY c.next_attempt, c.subscription_id, c.event_number
          LIMIT $1
       ), due AS (
         SELECT e.id FROM subscription_events e
          WHERE e.id IN (SELECT id FROM candidates) AND ${DUE}
          FOR UPDATE OF e SKIP LOCKED
       )
       UPDATE subscription_events e
          SET state = 'sending', claimed_by = $2, attempts = e.attempts + 1,
              claimed_until = now() + make_interval(secs => ${LEASE_OF_S})
         FROM due, subscription_state s
        WHERE e.id = due.id AND s.id = e.subscription_id
       RETURNING e.id::text AS id, e.subscription_id, e.event_number::text AS event_number, e.handover_id, e.focus_version::text AS focus_version,
                 e.occurred, e.attempts, e.patient, e.first_failed_at,
                 to_jsonb(s) || jsonb_build_object('events_count', s.events_count::text, 'error_count', s.error_count::text) AS sub,
                 (SELECT r.content->'channel'->'header' FROM resources r WHERE r.resource_type = 'Subscription' AND r.id = s.id) AS header`,
      [args.limit, args.workerId, args.perSubscription, args.lease.deadlineSeconds, args.lease.marginSeconds, args.delivered ?? [], args.fast?.ids ?? [], args.fast?.perSubscription ?? args.perSubscription],
      ahead ? { ...COMMIT_WITH_LAST, ahead: [ahead] } : COMMIT_WITH_LAST,
    );
    return r.rows;
  },

  /** Done, successfully or with nothing to tell: ordering lets the next event of the handover go. */
  async delivered(q: Queryable, ids: readonly string[], note?: string): Promise<void> {
    await q.query(`UPDATE subscription_events SET ${MARK_DELIVERED}, last_error = $2 WHERE id = ANY($1::bigint[])`, [ids, note ?? null]);
  },

  /**
   * A failed attempt: waits `delayMs` for the next, or is given up (a dead letter) when the policy says so
   * (retry.ts). Only while the claim is still this worker's: had the lease run out and another instance taken
   * the event over, putting it back would let a third send it beside the second. Returns whether it was.
   */
  async failed(q: Queryable, id: string, args: { dead: boolean; delayMs: number; error: string; workerId: string }): Promise<boolean> {
    const r = await q.query(
      `UPDATE subscription_events
          SET first_failed_at = coalesce(first_failed_at, now()), state = CASE WHEN $2 THEN 'dead' ELSE 'pending' END,
              next_attempt = now() + make_interval(secs => $3 / 1000.0), claimed_by = NULL, claimed_until = NULL, last_error = $4
        WHERE id = $1 AND claimed_by = $5`,
      [id, args.dead, args.delayMs, args.error, args.workerId],
    );
    return r.rowCount > 0;
  },

  /** The subscription gave up: its waiting events become dead letters until it is re-activated. */
  async killWaiting(q: Queryable, subscriptionId: string): Promise<void> {
    await q.query(`UPDATE subscription_events SET state = 'dead', claimed_by = NULL, claimed_until = NULL WHERE subscription_id = $1 AND state IN ('pending')`, [subscriptionId]);
  },

  /** Gives back what this instance claimed (it stops), so another instance takes it at once. */
  async release(db: Database, workerId: string): Promise<void> {
    await db.query(`UPDATE subscription_events SET state = 'pending', claimed_by = NULL, claimed_until = NULL, attempts = greatest(attempts - 1, 0) WHERE claimed_by = $1 AND state = 'sending'`, [workerId]);
  },
};

/**
 * Handshakes and heartbeats, claimed like events: `handshake_at` / `heartbeat_at` set in the claim, so that
 * no other instance sends the same one; a handshake claimed by an instance that died is due again after a lease.
 * The row lock is FOR NO KEY UPDATE: a writer's outbox row holds FOR KEY SHARE on its subscription (the foreign key)
 * until it commits, which FOR UPDATE would skip, so that under steady writes a heartbeat would never be claimed.
 */
export const statusQueue = {
  async claimHandshakes(db: Database, args: { limit: number; lease: Lease; busy: string[] }): Promise<SubscriptionRow[]> {
    const r = await db.query<SubscriptionRow>(
      `UPDATE subscription_state SET handshake_at = now()
        WHERE id IN (SELECT id FROM subscription_state
                      WHERE ${handshakeDue('$2', '$3')}
                        AND id <> ALL($4::text[])
                      ORDER BY handshake_at NULLS FIRST, id LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED)
       RETURNING *`,
      [args.limit, args.lease.deadlineSeconds, args.lease.marginSeconds, args.busy],
    );
    return r.rows;
  },

  async claimHeartbeats(db: Database, args: { limit: number; busy: string[] }): Promise<SubscriptionRow[]> {
    const r = await db.query<SubscriptionRow>(
      `UPDATE subscription_state SET heartbeat_at = now()
        WHERE id IN (SELECT id FROM subscription_state
                      WHERE ${HEARTBEAT_DUE}
                        AND id <> ALL($2::text[])
                      ORDER BY coalesce(heartbeat_at, handshake_at, 'epoch'::timestamptz), id LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED)
       RETURNING *`,
      [args.limit, args.busy],
    );
    return r.rows;
  },

  /** Handshakes cancelled because this instance stops: due again at once, for another instance. */
  async releaseHandshakes(db: Database, ids: string[]): Promise<void> {
    if (ids.length) await db.query(`UPDATE subscription_state SET handshake_at = NULL WHERE id = ANY($1::text[]) AND status = 'requested'`, [ids]);
  },
};
