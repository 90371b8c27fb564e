import type { Database } from '../store/database.ts';
import { connectionPolicy, type EndpointPolicy } from './endpoint.ts';
import type { NotificationType } from './notification.ts';
import { postHook, type HookResult } from './rest-hook.ts';
import { sign } from './signing.ts';
import type { SubscriptionRow } from './store.ts';

export interface Notification {
  type: NotificationType;
  number: string;
  idempotencyKey: string;
  contentType?: string;
  body: string;
  /** What is left of the claim's deadline (retry.ts `remainingMs`). */
  deadlineMs: number;
  signal: AbortSignal;
  /** The subscription's `channel.header` lines, when read with the claim; otherwise read here. */
  channelHeaders?: string[] | null;
}

/** One notification to a subscription's endpoint: the endpoint policy checked again, signed, its headers set, POSTed. */
export class HookSender {
  private readonly db: Database;
  private readonly topic: string;
  private readonly policy: EndpointPolicy;

  constructor(args: { db: Database; topic: string; policy: EndpointPolicy }) {
    this.db = args.db;
    this.topic = args.topic;
    this.policy = args.policy;
  }

  async send(sub: SubscriptionRow, n: Notification): Promise<HookResult> {
    const conn = connectionPolicy(this.policy, sub.owner_ura, sub.endpoint);
    if (!conn.allowed) return { ok: false, error: 'the endpoint is no longer allowed' };
    // Subscription.end: the worker's sweep switches an ended subscription off; nothing claimed before that is sent after it.
    if (sub.ends_at !== null && sub.ends_at !== undefined && new Date(sub.ends_at).getTime() <= Date.now()) return { ok: false, error: 'the subscription has ended (Subscription.end)' };
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'X-Subscription-Id': sub.id,
      'X-Subscription-Topic': this.topic,
      'X-Notification-Type': n.type,
      'X-Event-Number': n.number,
      'Idempotency-Key': n.idempotencyKey,
      'X-Signature-Timestamp': String(timestamp),
      'X-Signature': sign(sub.secret, timestamp, n.body),
    };
    // Backport IG: FHIR notifications in the MIME type the subscriber asked for (application/json, fhirVersion=4.0).
    if (n.contentType) headers['Content-Type'] = n.contentType === 'application/fhir+json' && sub.content_type ? sub.content_type : n.contentType;
    for (const h of (n.channelHeaders === undefined ? await this.channelHeaders(sub.id) : n.channelHeaders) ?? []) {
      const i = h.indexOf(':');
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    return postHook({ endpoint: sub.endpoint, headers, body: n.body, deadlineMs: n.deadlineMs, allowPrivate: conn.allowPrivate, signal: n.signal });
  }

  private async channelHeaders(id: string): Promise<string[] | undefined> {
    const r = await this.db.query<{ header: string[] | null }>(`SELECT content->'channel'->'header' AS header FROM resources WHERE resource_type = 'Subscription' AND id = $1`, [id]);
    return r.rows[0]?.header ?? undefined;
  }
}
