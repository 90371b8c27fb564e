// The retry policy's laws for any policy and any attempt count (the worked figures are in
// test/subscriptions/retry.test.ts): the jitter stays within ±50 % of a capped exponential, waits never shrink
// as attempts grow, and giving up is exactly "the next attempt would fall after the horizon".
import fc from 'fast-check';
import { pastHorizon, remainingMs, retryDelayMs, type RetryPolicy } from '../../src/subscriptions/retry.ts';

const policies = fc
  .record({ baseMs: fc.integer({ min: 1, max: 60_000 }), extra: fc.integer({ min: 0, max: 3_600_000 }), horizonSeconds: fc.integer({ min: 1, max: 7 * 86_400 }) })
  .map(({ baseMs, extra, horizonSeconds }): RetryPolicy => ({ baseMs, maxMs: baseMs + extra, horizonSeconds }));
const attempts = fc.integer({ min: 0, max: 100_000 });
const randoms = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

test('each delay lies within half and one and a half times base·2^(n-1), capped at the maximum', () => {
  fc.assert(
    fc.property(policies, attempts, randoms, (policy, n, r) => {
      const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(n - 1, 0));
      const delay = retryDelayMs(policy, n, () => r);
      return delay >= Math.round(exp * 0.5) && delay <= Math.round(exp * 1.5);
    }),
  );
});

test('with the same draw, a later attempt never waits less than an earlier one', () => {
  fc.assert(fc.property(policies, attempts, attempts, randoms, (policy, a, b, r) => (a <= b ? retryDelayMs(policy, a, () => r) <= retryDelayMs(policy, b, () => r) : true)));
});

test('a notification is given up exactly when its next attempt would come after first failure + horizon', () => {
  fc.assert(
    fc.property(policies, fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 10 ** 8 }), (policy, first, since, delay) => {
      const now = first + since;
      return pastHorizon(policy, first, now, delay) === now + delay > first + policy.horizonSeconds * 1000;
    }),
  );
});

test('a send never gets longer than the shorter of the deadline and its own timeout, less what the claim has used', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 10 ** 6 }), (deadline, timeout, used) => {
      return remainingMs(deadline, timeout, 1_000, 1_000 + used) === Math.min(deadline, timeout) * 1000 - used;
    }),
  );
});
