/** When a failed notification is tried again, and when the gateway gives up: pure, so that it can be tested as such. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  horizonSeconds: number;
}

/**
 * Exponential back-off with ±50 % jitter, so that many failing subscribers do not retry in step: the n-th
 * failed attempt waits about base·2^(n-1), never more than max (before jitter). `random` is in [0, 1).
 */
export function retryDelayMs(policy: RetryPolicy, attempts: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(exp * (0.5 + random()));
}

/**
 * Whether a notification that first failed at `firstFailedAt` (ms; the database's clock, compared with this
 * process's: a skew of seconds does not matter against a horizon of hours) and now waits `delayMs` would be
 * retried past the horizon: then it is given up (a dead letter) instead.
 */
export function pastHorizon(policy: RetryPolicy, firstFailedAt: number, now: number, delayMs: number): boolean {
  return firstFailedAt + policy.horizonSeconds * 1000 < now + delayMs;
}

/**
 * How long a send may still take, counted from its claim: the subscription's own timeout, but never more than
 * the configured deadline, which the configuration keeps shorter than the lease (config.ts). Zero or less:
 * the lease is too far gone to start a send that another instance might then repeat.
 */
export function remainingMs(deadlineSeconds: number, subscriptionTimeoutSeconds: number, claimedAt: number, now: number): number {
  return Math.min(deadlineSeconds, subscriptionTimeoutSeconds) * 1000 - (now - claimedAt);
}
