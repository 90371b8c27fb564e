// The retry policy and the send deadline, as the pure functions they are (src/subscriptions/retry.ts), and the
// start-up check that keeps the deadline shorter than the lease (src/config.ts).
import { loadConfig } from '../../src/config.ts';
import { pastHorizon, remainingMs, retryDelayMs, type RetryPolicy } from '../../src/subscriptions/retry.ts';

const policy: RetryPolicy = { baseMs: 1000, maxMs: 60_000, horizonSeconds: 3600 };
const middle = (): number => 0.5;

describe('retryDelayMs', () => {
  it('doubles from the base with each failed attempt, up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(policy, n, middle))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    // Attempt counts of 0 (a released claim) and huge ones stay within the base and the maximum.
    expect(retryDelayMs(policy, 0, middle)).toBe(1000);
    expect(retryDelayMs(policy, 10_000, middle)).toBe(60_000);
  });

  it('spreads each delay over ±50 % so that failing subscribers do not retry in step', () => {
    expect(retryDelayMs(policy, 3, () => 0)).toBe(2000);
    expect(retryDelayMs(policy, 3, () => 0.999)).toBe(5996);
    expect(retryDelayMs(policy, 20, () => 0.999)).toBe(89_940);
  });
});

describe('pastHorizon', () => {
  const first = Date.UTC(2026, 0, 1);
  it('gives up when the next attempt would come after first failure + horizon', () => {
    expect(pastHorizon(policy, first, first + 3_000_000, 500_000)).toBe(false);
    expect(pastHorizon(policy, first, first + 3_000_000, 600_000)).toBe(false);
    expect(pastHorizon(policy, first, first + 3_000_000, 600_001)).toBe(true);
    expect(pastHorizon(policy, first, first + 3_700_000, 0)).toBe(true);
  });
});

describe('remainingMs', () => {
  it('is the shorter of the deadline and the subscription timeout, less the time since the claim', () => {
    expect(remainingMs(20, 10, 1000, 1000)).toBe(10_000);
    expect(remainingMs(5, 10, 1000, 3000)).toBe(3000);
    expect(remainingMs(5, 120, 0, 6000)).toBe(-1000);
  });
});

describe('the lease and the deadline in the configuration', () => {
  it('refuses a lease that does not outlast the deadline by the margin', () => {
    expect(loadConfig({}).hookSendDeadlineSeconds).toBe(20);
    expect(loadConfig({}).hookLeaseSeconds).toBe(25);
    expect(loadConfig({ HOOK_SEND_DEADLINE_SECONDS: '10', HOOK_LEASE_SECONDS: '15' }).hookLeaseSeconds).toBe(15);
    expect(() => loadConfig({ HOOK_SEND_DEADLINE_SECONDS: '10', HOOK_LEASE_SECONDS: '14' })).toThrow(/HOOK_LEASE_SECONDS \(14\) must be at least HOOK_SEND_DEADLINE_SECONDS \(10\) \+ 5/);
    expect(() => loadConfig({ HOOK_SEND_DEADLINE_SECONDS: '60' })).toThrow(/HOOK_LEASE_SECONDS/);
  });

  it('documents its retention defaults', () => {
    const c = loadConfig({});
    expect([c.retentionDeliveredEventsDays, c.retentionNativeRecordsDays, c.retentionConditionalKeysHours]).toEqual([7, 30, 24]);
    expect(() => loadConfig({ RETENTION_DELIVERED_EVENTS_DAYS: '-1' })).toThrow(/RETENTION_DELIVERED_EVENTS_DAYS/);
  });
});
