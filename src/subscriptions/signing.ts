import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Notification signatures: `X-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with the
 * timestamp (unix seconds) in `X-Signature-Timestamp`. A receiver recomputes it to check the origin
 * and refuses old timestamps and seen idempotency keys to refuse replays.
 */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function verify(secret: string, timestamp: number, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
