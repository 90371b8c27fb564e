import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Resource } from '@medplum/fhirtypes';
import { auditNotificationAttempt } from '../audit/index.ts';
import { safeError } from '../observability/logging.ts';
import type { Database, Queryable } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import { connectionPolicy, type EndpointPolicy } from './endpoint.ts';
import type { RenderNative } from './native-payload.ts';
import { notificationBundle, type NotificationType } from './notification.ts';
import { OUTBOX_CHANNEL } from './outbox.ts';
import { postHook, type HookResult } from './rest-hook.ts';
import { sign } from './signing.ts';
import { NATIVE_PAYLOADS, type Payload } from './spec.ts';
import { subscriptionStore, type SubscriptionRow } from './store.ts';

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  horizonSeconds: number;
}

export interface WorkerDeps {
  db: Database;
  logger: Logger;
  fhirBaseUrl: string;
  topic: string;
  policy: EndpointPolicy;
  retry: RetryPolicy;
  renderNative: RenderNative;
  /** How often due retries, expired claims, handshakes and heartbeats are looked for. */
  pollMs?: number;
  maxInFlight?: number;
  /** Told of every event notification sent and answered (or not): for the delivery metrics. */
  onAttempt?: (outcome: 'delivered' | 'failed', seconds: number) => void;
}

/** A claimed event with what sending it needs of its subscription, read in the claim itself. */
interface ClaimedEvent {
  id: string;
  subscription_id: string;
  event_number: string;
  handover_id: string;
  focus_version: string;
  occurred: string | Date;
  attempts: number;
  patient: string | null;
  sub: SubscriptionRow;
  header: string[] | null;
}

const MARGIN_SECONDS = 5;

/** Exponential back-off with ±50 % jitter, so that many failing subscribers do not retry in step. */
export function retryDelayMs(policy: RetryPolicy, attempts: number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(exp * (0.5 + Math.random()));
}

function iso(v: string | Date): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

/**
 * Delivers the outbox. Events are claimed with FOR UPDATE SKIP LOCKED under a lease (claimed_until), so
 * several processes share the work without sending an event twice, and a process that dies leaves its
 * claims to expire. An event is only claimable when every earlier event of the same subscription and
 * handover is delivered: order per handover. NOTIFY wakes the worker at commit; a slow poll finds due
 * retries, expired leases, handshakes and heartbeats.
 */
export class DeliveryWorker {
  private readonly deps: WorkerDeps;
  private readonly workerId = randomUUID();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private stopped = false;
  private cycle: Promise<void> | undefined;
  private again = false;
  private maintenance = true;
  /** A commit was heard (or the sweep is due): number events before claiming. Other wakes (a send done, a retry due) need not. */
  private numbering = true;
  private poll: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private unlisten: (() => Promise<void>) | undefined;
  private started = false;
  /** When a cycle last began or ended: the poll starts one every second, so a stale time means a stuck worker. */
  private lastActivity = 0;

  constructor(deps: WorkerDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    this.unlisten = await this.deps.db.listen(OUTBOX_CHANNEL, () => {
      this.numbering = true;
      this.wake();
    });
    this.poll = setInterval(() => this.wake(true), this.deps.pollMs ?? 1000);
    this.poll.unref();
    this.started = true;
    this.wake(true);
  }

  /** Started, not stopped, and a cycle began or ended within `withinMs` (readiness). */
  running(withinMs: number): boolean {
    return this.started && !this.stopped && Date.now() - this.lastActivity < withinMs;
  }

  /** Looks for work now; `maintenance` also runs handshakes and heartbeats (a new subscription). */
  wake(maintenance = false): void {
    if (this.stopped) return;
    if (maintenance) {
      this.maintenance = true;
      this.numbering = true;
    }
    if (this.cycle) {
      this.again = true;
      return;
    }
    this.lastActivity = Date.now();
    this.cycle = this.runCycle()
      .catch((err: unknown) => this.deps.logger.error({ err: safeError(err) }, 'subscription delivery cycle failed'))
      .finally(() => {
        this.cycle = undefined;
        this.lastActivity = Date.now();
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private wakeIn(ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.wake();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private async runCycle(): Promise<void> {
    // Numbers what was committed since the last cycle: woken by the NOTIFY of a commit, and as the
    // sweep (poll) for events whose committing process died before any worker heard of them.
    if (this.numbering) {
      this.numbering = false;
      await this.deps.db.query('SELECT subscription_number_events()');
    }
    if (this.maintenance) {
      this.maintenance = false;
      await this.handshakes();
      await this.heartbeats();
    }
    const room = (this.deps.maxInFlight ?? 32) - this.inFlight.size;
    if (room <= 0 || this.stopped) return;
    const claimed = await this.claim(room);
    for (const e of claimed) this.dispatch(e);
  }

  private async claim(limit: number): Promise<ClaimedEvent[]> {
    const r = await this.deps.db.query<ClaimedEvent>(
      `WITH due AS (
         SELECT e.id
         FROM subscription_events e JOIN subscription_state s ON s.id = e.subscription_id
         WHERE s.status = 'active' AND e.event_number IS NOT NULL
           AND ((e.state = 'pending' AND e.next_attempt <= now()) OR (e.state = 'sending' AND e.claimed_until < now()))
           AND NOT EXISTS (SELECT 1 FROM subscription_events p
                           WHERE p.subscription_id = e.subscription_id AND p.handover_id = e.handover_id
                             AND p.event_number < e.event_number AND p.state <> 'delivered')
         ORDER BY e.next_attempt, e.subscription_id, e.event_number
         LIMIT $1
         FOR UPDATE OF e SKIP LOCKED
       )
       UPDATE subscription_events e
          SET state = 'sending', claimed_by = $2, attempts = e.attempts + 1,
              claimed_until = now() + make_interval(secs => s.timeout_seconds + ${MARGIN_SECONDS})
         FROM due, subscription_state s
        WHERE e.id = due.id AND s.id = e.subscription_id
       RETURNING e.id::text AS id, e.subscription_id, e.event_number::text AS event_number, e.handover_id, e.focus_version::text AS focus_version,
                 e.occurred, e.attempts, e.patient,
                 to_jsonb(s) || jsonb_build_object('events_count', s.events_count::text, 'error_count', s.error_count::text) AS sub,
                 (SELECT r.content->'channel'->'header' FROM resources r WHERE r.resource_type = 'Subscription' AND r.id = s.id) AS header`,
      [limit, this.workerId],
    );
    return r.rows;
  }

  private dispatch(e: ClaimedEvent): void {
    const key = `${e.subscription_id}:${e.event_number}`;
    const abort = new AbortController();
    const done = this.deliver(e, abort.signal)
      .catch((err: unknown) => this.deps.logger.error({ subscription: e.subscription_id, event: e.event_number, err: safeError(err) }, 'delivery failed'))
      .finally(() => {
        this.inFlight.delete(key);
        this.wake();
      });
    this.inFlight.set(key, { abort, done });
  }

  private async deliver(e: ClaimedEvent, signal: AbortSignal): Promise<void> {
    const { db } = this.deps;
    const { sub } = e;
    const format = NATIVE_PAYLOADS[sub.payload as keyof typeof NATIVE_PAYLOADS] as (typeof NATIVE_PAYLOADS)[keyof typeof NATIVE_PAYLOADS] | undefined;
    let body: string;
    let contentType: string;
    if (format) {
      // The handover as it was at the event (the Task at its version), not as it is when the worker gets to it.
      const rendered = await this.deps.renderNative(sub.owner_ura, format, e.handover_id, e.focus_version);
      if (rendered === undefined) {
        // The subscriber may no longer read this handover: there is nothing it may be told.
        await db.query(`UPDATE subscription_events SET state = 'delivered', delivered_at = now(), last_error = 'not readable by the subscriber', claimed_by = NULL WHERE id = $1`, [e.id]);
        return;
      }
      body = rendered;
      contentType = sub.payload;
    } else {
      let resource: Resource | undefined;
      if (sub.payload === 'full-resource') resource = (await resourceStore.version(db, 'Task', e.handover_id, e.focus_version))?.content;
      const bundle = notificationBundle(
        { fhirBaseUrl: this.deps.fhirBaseUrl, topic: this.deps.topic, subscriptionId: sub.id, status: sub.status, type: 'event-notification', eventsSinceStart: sub.events_count, events: [{ number: e.event_number, occurred: iso(e.occurred), handoverId: e.handover_id, focusVersion: e.focus_version, resource }] },
        sub.payload,
      );
      body = JSON.stringify(bundle);
      contentType = 'application/fhir+json';
    }
    const started = performance.now();
    const result = await this.send(sub, 'event-notification', e.event_number, `${sub.id}-${e.event_number}`, contentType, body, signal, e.header);
    const latencyMs = performance.now() - started;
    if (this.stopped && signal.aborted) return;
    this.deps.onAttempt?.(result.ok ? 'delivered' : 'failed', latencyMs / 1000);
    if (result.ok) {
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE subscription_events SET state = 'delivered', delivered_at = now(), claimed_by = NULL, claimed_until = NULL, last_error = NULL WHERE id = $1`, [e.id]);
        await this.audit(tx, e, result, latencyMs);
      });
      return;
    }
    await this.failed(e, result, latencyMs);
  }

  /** Every attempt is audited in the transaction that records its outcome (NEN 7513: what went to whom). */
  private async audit(tx: Queryable, e: ClaimedEvent, result: HookResult, latencyMs: number): Promise<void> {
    await auditNotificationAttempt(tx, {
      subscriptionId: e.subscription_id,
      organizationUra: e.sub.owner_ura,
      endpoint: e.sub.endpoint,
      eventNumber: e.event_number,
      status: result.status,
      latencyMs,
      error: result.ok ? undefined : result.error,
      focus: `Task/${e.handover_id}/_history/${e.focus_version}`,
      patient: e.patient ?? undefined,
    });
  }

  private async failed(e: ClaimedEvent, result: HookResult, latencyMs: number): Promise<void> {
    const { db, retry } = this.deps;
    const { sub } = e;
    const error = result.error ?? 'failed';
    const delay = retryDelayMs(retry, e.attempts);
    const state = await db.transaction(async (tx) => {
      const r = await tx.query<{ state: string }>(
        `UPDATE subscription_events
            SET first_failed_at = coalesce(first_failed_at, now()),
                state = CASE WHEN coalesce(first_failed_at, now()) + make_interval(secs => $2) < now() + make_interval(secs => $3 / 1000.0) THEN 'dead' ELSE 'pending' END,
                next_attempt = now() + make_interval(secs => $3 / 1000.0), claimed_by = NULL, claimed_until = NULL, last_error = $4
          WHERE id = $1
         RETURNING state`,
        [e.id, retry.horizonSeconds, delay, error],
      );
      await subscriptionStore.recordError(tx, sub.id, `event ${e.event_number}: ${error}`);
      await this.audit(tx, e, result, latencyMs);
      return r.rows[0]?.state;
    });
    this.deps.logger.warn({ subscription: sub.id, event: e.event_number, attempts: e.attempts, error }, 'notification not delivered');
    if (state === 'dead') {
      // Past the horizon: the subscription stops, its undelivered events wait as dead letters until re-activated.
      await db.transaction(async (tx) => {
        await subscriptionStore.setStatus(tx, sub.id, 'error', ['active', 'requested'], `retries exhausted at event ${e.event_number}`);
        await tx.query(`UPDATE subscription_events SET state = 'dead', claimed_by = NULL, claimed_until = NULL WHERE subscription_id = $1 AND state IN ('pending')`, [sub.id]);
      });
      return;
    }
    this.wakeIn(delay + 5);
  }

  private async send(sub: SubscriptionRow, type: NotificationType, number: string, idempotencyKey: string, contentType: string | undefined, body: string, signal?: AbortSignal, channelHeaders?: string[] | null): Promise<HookResult> {
    const conn = connectionPolicy(this.deps.policy, sub.owner_ura, sub.endpoint);
    if (!conn.allowed) return { ok: false, error: 'the endpoint is no longer allowed' };
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'X-Subscription-Id': sub.id,
      'X-Subscription-Topic': this.deps.topic,
      'X-Notification-Type': type,
      'X-Event-Number': number,
      'Idempotency-Key': idempotencyKey,
      'X-Signature-Timestamp': String(timestamp),
      'X-Signature': sign(sub.secret, timestamp, body),
    };
    if (contentType) headers['Content-Type'] = contentType;
    for (const h of (channelHeaders === undefined ? await this.channelHeaders(sub.id) : channelHeaders) ?? []) {
      const i = h.indexOf(':');
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    return postHook({ endpoint: sub.endpoint, headers, body, timeoutMs: sub.timeout_seconds * 1000, allowPrivate: conn.allowPrivate, signal });
  }

  private async channelHeaders(id: string): Promise<string[] | undefined> {
    const r = await this.deps.db.query<{ header: string[] | null }>(`SELECT content->'channel'->'header' AS header FROM resources WHERE resource_type = 'Subscription' AND id = $1`, [id]);
    return r.rows[0]?.header ?? undefined;
  }

  /** The handshake of a new or re-activated subscription: requested → active on 2xx, error otherwise. */
  private async handshakes(): Promise<void> {
    const r = await this.deps.db.query<SubscriptionRow>(
      `UPDATE subscription_state SET handshake_at = now()
        WHERE status = 'requested' AND (handshake_at IS NULL OR handshake_at < now() - interval '30 seconds')
       RETURNING *`,
    );
    await Promise.all(r.rows.map((sub) => this.handshake(sub)));
  }

  private async handshake(sub: SubscriptionRow): Promise<void> {
    const { body, contentType } = this.statusBody(sub, 'handshake');
    const result = await this.send(sub, 'handshake', sub.events_count, randomUUID(), contentType, body);
    if (result.ok) {
      await subscriptionStore.setStatus(this.deps.db, sub.id, 'active', ['requested']);
      this.wake();
    } else {
      await subscriptionStore.setStatus(this.deps.db, sub.id, 'error', ['requested'], `handshake: ${result.error ?? 'failed'}`);
    }
  }

  private async heartbeats(): Promise<void> {
    const r = await this.deps.db.query<SubscriptionRow>(
      `UPDATE subscription_state SET heartbeat_at = now()
        WHERE status = 'active' AND heartbeat_period IS NOT NULL
          AND coalesce(heartbeat_at, handshake_at, 'epoch'::timestamptz) <= now() - make_interval(secs => heartbeat_period)
       RETURNING *`,
    );
    await Promise.all(
      r.rows.map(async (sub) => {
        const { body, contentType } = this.statusBody(sub, 'heartbeat');
        const result = await this.send(sub, 'heartbeat', sub.events_count, randomUUID(), contentType, body);
        if (!result.ok) await subscriptionStore.recordError(this.deps.db, sub.id, `heartbeat: ${result.error ?? 'failed'}`);
      }),
    );
  }

  /** Handshakes and heartbeats: the status Bundle, or for a native subscriber an empty body (the type is in a header). */
  private statusBody(sub: SubscriptionRow, type: NotificationType): { body: string; contentType?: string } {
    if (sub.payload in NATIVE_PAYLOADS) return { body: '' };
    const bundle = notificationBundle({ fhirBaseUrl: this.deps.fhirBaseUrl, topic: this.deps.topic, subscriptionId: sub.id, status: type === 'handshake' ? 'active' : sub.status, type, eventsSinceStart: sub.events_count, events: [] }, sub.payload as Payload);
    return { body: JSON.stringify(bundle), contentType: 'application/fhir+json' };
  }

  /** Stops claiming, cancels sends under way and gives their events back, so another instance takes them at once. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.unlisten?.().catch(() => undefined);
    await this.cycle;
    const running = [...this.inFlight.values()];
    for (const f of running) f.abort.abort();
    await Promise.allSettled(running.map((f) => f.done));
    await this.deps.db
      .query(`UPDATE subscription_events SET state = 'pending', claimed_by = NULL, claimed_until = NULL, attempts = greatest(attempts - 1, 0) WHERE claimed_by = $1 AND state = 'sending'`, [this.workerId])
      .catch(() => undefined);
  }
}
