import type { NextFunction, Request, Response } from 'express';
import type { RequestContext } from '../context.ts';
import { tooManyRequests } from '../fhir/outcomes.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** Beyond this many keys, full buckets are forgotten (they hold nothing a new bucket would not). */
const SWEEP_ABOVE = 10_000;

/**
 * Token buckets in memory, one per key (a client id, an IP address): each holds up to `perMinute`
 * requests and refills at `perMinute` a minute. Per process: several instances each allow as much.
 */
export class RateLimiter {
  readonly perMinute: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(perMinute: number, now: () => number = Date.now) {
    this.perMinute = perMinute;
    this.now = now;
  }

  /** Takes one request from `key`'s bucket: undefined when allowed, else the seconds until one is. */
  take(key: string): number | undefined {
    const now = this.now();
    const perMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= SWEEP_ABOVE) this.sweep(now);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }

  private sweep(now: number): void {
    const perMs = this.perMinute / 60_000;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * perMs >= this.perMinute) this.buckets.delete(key);
    }
  }
}

function refuse(limiter: RateLimiter, key: string, who: string, next: NextFunction): void {
  const retryAfter = limiter.take(key);
  if (retryAfter === undefined) {
    next();
    return;
  }
  // Through the error chain, so the refusal is audited like any other.
  next(tooManyRequests(`Too many requests from this ${who}: at most ${limiter.perMinute} a minute. Retry after ${retryAfter} s.`, retryAfter));
}

/** After authentication: one bucket per client id. */
export function limitPerClient(limiter: RateLimiter) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const ctx = res.locals.ctx as RequestContext | undefined;
    if (!ctx) {
      next();
      return;
    }
    refuse(limiter, `client:${ctx.clientId}`, 'client', next);
  };
}

/** Before authentication (the token endpoint): one bucket per remote address. */
export function limitPerAddress(limiter: RateLimiter) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    refuse(limiter, `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`, 'address', next);
  };
}
