import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Resource } from '@medplum/fhirtypes';
import { auditNotificationAttempts, notificationAttemptsStatement, type NotificationAttempt } from '../audit/index.ts';
import { safeError } from '../observability/logging.ts';
import type { Database, Queryable, StatementBefore } from '../store/database.ts';
import { resourceStore } from '../store/resource-store.ts';
import type { EndpointPolicy } from './endpoint.ts';
import type { RenderNative } from './native-payload.ts';
import { notificationBundle } from './notification.ts';
import { OUTBOX_CHANNEL } from './outbox.ts';
import { eventQueue, type ClaimedEvent, type Lease } from './queue.ts';
import type { HookResult } from './rest-hook.ts';
import { pastHorizon, remainingMs, retryDelayMs, type RetryPolicy } from './retry.ts';
import { HookSender } from './sender.ts';
import { NATIVE_PAYLOADS } from './spec.ts';
import { StatusSends } from './status-sends.ts';
import { subscriptionStore } from './store.ts';

export interface WorkerDeps {
  db: Database;
  logger: Logger;
  fhirBaseUrl: string;
  topic: string;
  policy: EndpointPolicy;
  retry: RetryPolicy;
  renderNative: RenderNative;
  /** The lease of a claim with the full deadline, and the longest a send may take counted from its claim (shorter: config.ts checks). */
  leaseSeconds: number;
  sendDeadlineSeconds: number;
  /** How often due retries, expired claims, handshakes and heartbeats are looked for. */
  pollMs?: number;
  /** Events being sent at once by this instance, and to one subscription by all instances. */
  maxInFlight?: number;
  maxInFlightPerSubscription?: number;
  /** Handshakes and heartbeats being sent at once by this instance. */
  maxStatusSends?: number;
  /** Told of every event notification sent and answered (or not): for the delivery metrics. */
  onAttempt?: (outcome: 'delivered' | 'failed', seconds: number) => void;
}

/** A claimed event and when (this process's clock, before the claim) its lease began: the send deadline counts from there. */
type Claim = ClaimedEvent & { claimedAt: number };

/** A notification its receiver took, to be marked delivered and audited together with the others of its cycle. */
interface Answered {
  id: string;
  attempt: NotificationAttempt;
}

/**
 * A receiver that answered its last FAST_STREAK notifications, each within FAST_MS, is fast: it may have more in
 * flight (half the instance's slots), because at 100-200 events/s a subscription's few slots are otherwise held
 * mostly by the wait for the next cycle and its claim, not by the receiver (measured: at the cap of 4 the worker fell
 * seconds behind 100 Task creates/s on a loaded machine, at 16 it kept up). One slow or failed answer and it is back
 * at the ordinary cap; what it holds meanwhile is bounded by half the slots, the other half stays for the rest.
 */
const FAST_MS = 250;
const FAST_STREAK = 4;

/** A statement sent ahead of another (QueryOptions.ahead). */
type Statement = { sql: string; params: unknown[] };

/** Numbers the committed events not yet numbered (migration 023), in a transaction of its own. */
const NUMBER_EVENTS = 'SELECT subscription_number_events()';

/** However quiet the poll finds things, a full cycle at least this often (its claims, not only the probe, look). */
const FULL_CYCLE_MS = 10_000;

function iso(v: string | Date): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

/**
 * Delivers the outbox. Events are claimed under a lease (queue.ts), so several processes share the work
 * without sending an event twice, and a process that dies leaves its claims to expire; every send has a total
 * deadline shorter than that lease. Sends run beside the loop, several at once (bounded per instance and per
 * subscription), in order per handover. Handshakes and heartbeats run beside the loop too, with their own cap:
 * a slow or silent receiver holds up only its own subscription. NOTIFY wakes the worker at commit; a slow poll
 * finds due retries, expired leases, handshakes and heartbeats.
 */
export class DeliveryWorker {
  private readonly deps: WorkerDeps;
  private readonly workerId = randomUUID();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly sender: HookSender;
  private readonly statusSends: StatusSends;
  /**
   * Answered since the last cycle: the next cycle marks them delivered and audits them in one transaction with its
   * claim, so that a burst costs a commit per cycle rather than a transaction of four statements per event, and the
   * room they held for their subscription is given to the next events in that same statement.
   */
  private answered: Answered[] = [];
  /** Per subscription, how many answers in a row came back within FAST_MS (an entry only while the streak lasts). */
  private readonly fastStreak = new Map<string, number>();
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
  /** Only the poll woke the worker since the last cycle began: the cycle first asks whether anything is due. */
  private quiet = false;
  private lastFullCycle = 0;

  /**
   * The numbering as the statement before the claim's transaction: committed before it, as when it went alone, but in
   * the same round trip (src/store/statement-before.ts). Should it fail, the claim still takes what was numbered.
   */
  private readonly numberingBefore: StatementBefore;

  constructor(deps: WorkerDeps) {
    this.deps = deps;
    this.numberingBefore = {
      sql: NUMBER_EVENTS,
      params: [],
      failed: (err) => deps.logger.error({ err: safeError(err) }, 'subscription events not numbered'),
    };
    this.sender = new HookSender({ db: deps.db, topic: deps.topic, policy: deps.policy });
    this.statusSends = new StatusSends({
      db: deps.db,
      logger: deps.logger,
      fhirBaseUrl: deps.fhirBaseUrl,
      topic: deps.topic,
      sender: this.sender,
      lease: this.lease(),
      cap: deps.maxStatusSends ?? 8,
      wake: (maintenance) => this.wake(maintenance),
    });
  }

  async start(): Promise<void> {
    this.unlisten = await this.deps.db.listen(OUTBOX_CHANNEL, () => {
      this.numbering = true;
      this.wake();
    });
    this.poll = setInterval(() => this.wake(true, true), this.deps.pollMs ?? 1000);
    this.poll.unref();
    this.started = true;
    this.wake(true);
  }

  /** Started, not stopped, and a cycle began or ended within `withinMs` (readiness). */
  running(withinMs: number): boolean {
    return this.started && !this.stopped && Date.now() - this.lastActivity < withinMs;
  }

  /**
   * Looks for work now; `maintenance` also looks for handshakes and heartbeats (a new subscription). `poll`: the
   * timer's wake, which finds nothing to do most of the time: the cycle then asks one cheap question first.
   */
  wake(maintenance = false, poll = false): void {
    if (this.stopped) return;
    this.quiet = poll && (this.quiet || !this.cycle);
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

  private lease(): Lease {
    return { deadlineSeconds: this.deps.sendDeadlineSeconds, marginSeconds: this.deps.leaseSeconds - this.deps.sendDeadlineSeconds };
  }

  private wakeIn(ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.wake();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Only database work is awaited here; every network call runs beside the loop. */
  private async runCycle(): Promise<void> {
    // Woken only by the poll: an idle gateway's second costs one statement instead of five, and a full cycle still
    // runs every FULL_CYCLE_MS whatever the probe says.
    const probe = this.quiet && this.answered.length === 0 && Date.now() - this.lastFullCycle < FULL_CYCLE_MS;
    this.quiet = false;
    if (probe && !(await eventQueue.anythingDue(this.deps.db, this.lease()))) return;
    this.lastFullCycle = Date.now();
    // Numbers what was committed since the last cycle: woken by the NOTIFY of a commit, and as the
    // sweep (poll) for events whose committing process died before any worker heard of them. A cycle that
    // sends handshakes and heartbeats numbers first, alone, so that they count the events committed until now;
    // otherwise the numbering goes just before the claim, in its round trip (below).
    if (this.numbering && this.maintenance) {
      this.numbering = false;
      await this.deps.db.query(NUMBER_EVENTS);
    }
    if (this.maintenance) {
      this.maintenance = false;
      await this.statusSends.start();
    }
    // Subscription.end honoured (Backport IG): an ended subscription is off before anything more is claimed for it
    // (the claim's own statement does it), and also when no room is left to claim anything.
    const room = (this.deps.maxInFlight ?? 32) - this.inFlight.size;
    const numbering = this.numbering;
    this.numbering = false;
    if (room <= 0 || this.stopped) {
      if (numbering) await this.deps.db.query(NUMBER_EVENTS);
      await this.recordAnswered();
      await subscriptionStore.endPassed(this.deps.db);
      return;
    }
    const answered = this.takeAnswered();
    const claimedAt = performance.now();
    const perSubscription = this.deps.maxInFlightPerSubscription ?? 4;
    const fast = [...this.fastStreak].filter(([, n]) => n >= FAST_STREAK).map(([id]) => id);
    const claim = async (q: Queryable, ahead?: Statement): Promise<ClaimedEvent[]> =>
      eventQueue.claim(
        q,
        {
          limit: room,
          perSubscription,
          fast: { ids: fast, perSubscription: Math.max(perSubscription, Math.floor((this.deps.maxInFlight ?? 32) / 2)) },
          lease: this.lease(),
          workerId: this.workerId,
          delivered: answered.map((a) => a.id),
        },
        ahead,
      );
    const claimed = await this.withAnswered(answered, claim, numbering ? this.numberingBefore : undefined);
    for (const e of claimed) this.dispatch({ ...e, claimedAt });
  }

  private takeAnswered(): Answered[] {
    const answered = this.answered;
    this.answered = [];
    return answered;
  }

  /**
   * Runs `work` (which marks `answered` delivered) in the transaction that audits them (NEN 7513: an attempt's row
   * commits with its outcome), or alone when there are none and nothing goes `before` it (the numbering, in a
   * transaction of its own just before). The audit rows' statement is handed to `work` to send ahead of its own
   * (QueryOptions.ahead): the numbering, BEGIN, the rows, the claim and COMMIT in one round trip. Should it fail,
   * they wait for the next cycle: until then their events stay claimed, so nothing is sent again unless the lease
   * runs out (at least once).
   */
  private async withAnswered<T>(answered: Answered[], work: (q: Queryable, ahead?: Statement) => Promise<T>, before?: StatementBefore): Promise<T> {
    if (answered.length === 0 && before === undefined) return work(this.deps.db);
    try {
      return await this.deps.db.transaction(
        async (tx) =>
          work(
            tx,
            answered.length === 0 ? undefined : notificationAttemptsStatement(answered.map((a) => a.attempt)),
          ),
        { before },
      );
    } catch (err) {
      this.answered.unshift(...answered);
      throw err;
    }
  }

  /** Marks what was answered delivered, without claiming (no room, or the worker stops). */
  private async recordAnswered(): Promise<void> {
    const answered = this.takeAnswered();
    await this.withAnswered(answered, async (q, ahead) => {
      if (ahead) await q.query(ahead.sql, ahead.params);
      await eventQueue.delivered(
        q,
        answered.map((a) => a.id),
      );
    });
  }

  private dispatch(e: Claim): void {
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

  private async deliver(e: Claim, signal: AbortSignal): Promise<void> {
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
        await eventQueue.delivered(db, [e.id], 'not readable by the subscriber');
        return;
      }
      body = rendered;
      // The AZ-IG message is FHIR: it goes out as such, the subscription's payload code only chose it.
      contentType = format === 'az-ig' ? 'application/fhir+json' : sub.payload;
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
    const deadlineMs = remainingMs(this.deps.sendDeadlineSeconds, sub.timeout_seconds, e.claimedAt, started);
    const result = await this.sender.send(sub, { type: 'event-notification', number: e.event_number, idempotencyKey: `${sub.id}-${e.event_number}`, contentType, body, deadlineMs, signal, channelHeaders: e.header });
    const latencyMs = performance.now() - started;
    if (this.stopped && signal.aborted) return;
    if (result.ok && latencyMs < FAST_MS) this.fastStreak.set(sub.id, (this.fastStreak.get(sub.id) ?? 0) + 1);
    else this.fastStreak.delete(sub.id);
    this.deps.onAttempt?.(result.ok ? 'delivered' : 'failed', latencyMs / 1000);
    if (result.ok) {
      // Recorded by the next cycle, which the end of this send wakes (dispatch).
      this.answered.push({ id: e.id, attempt: this.attempt(e, result, latencyMs) });
      return;
    }
    await this.failed(e, result, latencyMs);
  }

  /** Every attempt is audited in the transaction that records its outcome (NEN 7513: what went to whom). */
  private attempt(e: ClaimedEvent, result: HookResult, latencyMs: number): NotificationAttempt {
    return {
      subscriptionId: e.subscription_id,
      organizationUra: e.sub.owner_ura,
      endpoint: e.sub.endpoint,
      eventNumber: e.event_number,
      status: result.status,
      latencyMs,
      error: result.ok ? undefined : result.error,
      focus: `Task/${e.handover_id}/_history/${e.focus_version}`,
      patient: e.patient ?? undefined,
    };
  }

  private async failed(e: ClaimedEvent, result: HookResult, latencyMs: number): Promise<void> {
    const { db, retry } = this.deps;
    const { sub } = e;
    const error = result.error ?? 'failed';
    const delay = retryDelayMs(retry, e.attempts);
    const now = Date.now();
    const dead = pastHorizon(retry, e.first_failed_at === null ? now : new Date(e.first_failed_at).getTime(), now, delay);
    const mine = await db.transaction(async (tx) => {
      const stillClaimed = await eventQueue.failed(tx, e.id, { dead, delayMs: delay, error, workerId: this.workerId });
      await subscriptionStore.recordError(tx, sub.id, `event ${e.event_number}: ${error}`);
      await auditNotificationAttempts(tx, [this.attempt(e, result, latencyMs)]);
      return stillClaimed;
    });
    this.deps.logger.warn({ subscription: sub.id, event: e.event_number, attempts: e.attempts, error }, 'notification not delivered');
    if (!mine) return;
    if (dead) {
      // Past the horizon: the subscription stops, its undelivered events wait as dead letters until re-activated.
      await db.transaction(async (tx) => {
        await subscriptionStore.setStatus(tx, sub.id, 'error', ['active', 'requested'], `retries exhausted at event ${e.event_number}`);
        await eventQueue.killWaiting(tx, sub.id);
      });
      return;
    }
    this.wakeIn(delay + 5);
  }

  /** Stops claiming, cancels sends under way and gives their events and handshakes back, so another instance takes them at once. */
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
    await Promise.allSettled([...running.map((f) => f.done), this.statusSends.close()]);
    // What was answered is recorded before the rest is given back: release would make it pending, to be sent again.
    await this.recordAnswered().catch((err: unknown) => this.deps.logger.error({ err: safeError(err) }, 'answered notifications not recorded'));
    await eventQueue.release(this.deps.db, this.workerId).catch(() => undefined);
  }
}
