import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress } from './endpoint.ts';

export interface HookRequest {
  endpoint: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Whether the endpoint may resolve to a private address (allow-listed, or loopback in tests). */
  allowPrivate: boolean;
  signal?: AbortSignal;
}

export interface HookResult {
  ok: boolean;
  status?: number;
  error?: string;
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

// Checked at connection time, not only when the subscription was made: DNS can change its answer (rebinding).
const publicOnly: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 4);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad || addresses.length === 0) return callback(new Error(`${hostname} resolves to a private address`), '', 4);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};

/** One POST of a notification. Redirects are not followed: a 3xx is a failure like any non-2xx. */
export function postHook(req: HookRequest): Promise<HookResult> {
  return new Promise((resolve) => {
    const url = new URL(req.endpoint);
    const client = url.protocol === 'https:' ? https : http;
    const body = Buffer.from(req.body);
    const r = client.request(
      url,
      {
        method: 'POST',
        agent: url.protocol === 'https:' ? agents.https : agents.http,
        headers: { ...req.headers, 'Content-Length': String(body.length) },
        lookup: req.allowPrivate ? undefined : publicOnly,
        timeout: req.timeoutMs,
        signal: req.signal,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
        });
        res.on('error', (err) => resolve({ ok: false, status: res.statusCode, error: err.message }));
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    r.on('error', (err) => resolve({ ok: false, error: err.message }));
    r.end(body);
  });
}
