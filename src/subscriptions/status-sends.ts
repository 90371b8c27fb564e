import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { safeError } from '../observability/logging.ts';
import type { Database } from '../store/database.ts';
import { notificationBundle, type NotificationType } from './notification.ts';
import { statusQueue, type Lease } from './queue.ts';
import { remainingMs } from './retry.ts';
import type { HookSender } from './sender.ts';
import { NATIVE_PAYLOADS, type Payload } from './spec.ts';
import { subscriptionStore, type SubscriptionRow } from './store.ts';

export interface StatusSendsDeps {
  db: Database;
  logger: Logger;
  fhirBaseUrl: string;
  topic: string;
  sender: HookSender;
  lease: Lease;
  /** Handshakes and heartbeats under way at once in this instance. */
  cap: number;
  /** A handshake or heartbeat ended (room for the next), or a subscription became active (its events may go). */
  wake(maintenance: boolean): void;
}

/**
 * Handshakes and heartbeats, beside the delivery of events: claimed in the worker's cycle (database work
 * only), sent without the cycle waiting for them, at most `cap` at once. A receiver that never answers
 * holds up nothing but its own subscription, until the deadline.
 */
export class StatusSends {
  private readonly deps: StatusSendsDeps;
  /** Under way, by subscription id. */
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void>; handshake: boolean }>();
  private stopped = false;

  constructor(deps: StatusSendsDeps) {
    this.deps = deps;
  }

  /** Claims the due handshakes, then heartbeats, as many as there is room for, and starts them; what does not fit waits for a later cycle. */
  async start(): Promise<void> {
    const room = (): number => this.deps.cap - this.running.size;
    if (room() <= 0 || this.stopped) return;
    const claimedAt = performance.now();
    const handshakes = await statusQueue.claimHandshakes(this.deps.db, { limit: room(), lease: this.deps.lease, busy: [...this.running.keys()] });
    for (const sub of handshakes) this.launch(sub, true, claimedAt);
    if (room() <= 0 || this.stopped) return;
    const heartbeats = await statusQueue.claimHeartbeats(this.deps.db, { limit: room(), busy: [...this.running.keys()] });
    for (const sub of heartbeats) this.launch(sub, false, claimedAt);
  }

  /** Cancels what is under way (the instance stops); cancelled handshakes are made due again for another instance. */
  async close(): Promise<void> {
    this.stopped = true;
    const running = [...this.running.values()];
    const handshakes = [...this.running.entries()].filter(([, s]) => s.handshake).map(([id]) => id);
    for (const r of running) r.abort.abort();
    await Promise.allSettled(running.map((r) => r.done));
    await statusQueue.releaseHandshakes(this.deps.db, handshakes).catch(() => undefined);
  }

  private launch(sub: SubscriptionRow, handshake: boolean, claimedAt: number): void {
    const abort = new AbortController();
    const work = handshake ? this.handshake(sub, claimedAt, abort.signal) : this.heartbeat(sub, claimedAt, abort.signal);
    const done = work
      .catch((err: unknown) => this.deps.logger.error({ subscription: sub.id, err: safeError(err) }, handshake ? 'handshake failed' : 'heartbeat failed'))
      .finally(() => {
        this.running.delete(sub.id);
        this.deps.wake(true);
      });
    this.running.set(sub.id, { abort, done, handshake });
  }

  /** The handshake of a new or re-activated subscription: requested → active on 2xx, error otherwise. */
  private async handshake(sub: SubscriptionRow, claimedAt: number, signal: AbortSignal): Promise<void> {
    const result = await this.send(sub, 'handshake', claimedAt, signal);
    // Cancelled because this instance stops: close() makes it due again for another instance.
    if (this.stopped && signal.aborted) return;
    if (result.ok) {
      await subscriptionStore.setStatus(this.deps.db, sub.id, 'active', ['requested']);
      this.deps.wake(false);
    } else {
      await subscriptionStore.setStatus(this.deps.db, sub.id, 'error', ['requested'], `handshake: ${result.error ?? 'failed'}`);
    }
  }

  private async heartbeat(sub: SubscriptionRow, claimedAt: number, signal: AbortSignal): Promise<void> {
    const result = await this.send(sub, 'heartbeat', claimedAt, signal);
    if (this.stopped && signal.aborted) return;
    if (!result.ok) await subscriptionStore.recordError(this.deps.db, sub.id, `heartbeat: ${result.error ?? 'failed'}`);
  }

  /** The status Bundle, or for a native subscriber an empty body (the type is in a header). */
  private send(sub: SubscriptionRow, type: NotificationType, claimedAt: number, signal: AbortSignal): ReturnType<HookSender['send']> {
    const native = sub.payload in NATIVE_PAYLOADS;
    const body = native
      ? ''
      : JSON.stringify(notificationBundle({ fhirBaseUrl: this.deps.fhirBaseUrl, topic: this.deps.topic, subscriptionId: sub.id, status: type === 'handshake' ? 'active' : sub.status, type, eventsSinceStart: sub.events_count, events: [] }, sub.payload as Payload));
    const deadlineMs = remainingMs(this.deps.lease.deadlineSeconds, sub.timeout_seconds, claimedAt, performance.now());
    return this.deps.sender.send(sub, { type, number: sub.events_count, idempotencyKey: randomUUID(), contentType: native ? undefined : 'application/fhir+json', body, deadlineMs, signal });
  }
}
