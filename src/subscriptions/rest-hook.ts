import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress } from './endpoint.ts';

export interface HookRequest {
  endpoint: string;
  headers: Record<string, string>;
  body: string;
  /**
   * The total time the POST may take: name lookup, connect, sending the body and the whole answer. Not an idle
   * timeout: a receiver that trickles bytes is cut off at the deadline all the same (its lease must not run out).
   */
  deadlineMs: number;
  /** Whether the endpoint may resolve to a private address (allow-listed, or loopback in tests). */
  allowPrivate: boolean;
  signal?: AbortSignal;
}

export interface HookResult {
  ok: boolean;
  status?: number;
  error?: string;
}

/**
 * Connections to receivers are kept alive, idle at most a minute, and less when the receiver's answers say how long
 * it keeps them (`Keep-Alive: timeout=N`: closed a second before). Node's agent reads that hint only when it has a
 * `timeout` of its own; without one it kept idle connections until the receiver closed them, sometimes just as a
 * notification went out on one (see the resend in postHook).
 */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 64, timeout: 60_000 };
const agents = { http: new http.Agent(AGENT_OPTIONS), https: new https.Agent(AGENT_OPTIONS) };

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
    if (req.deadlineMs <= 0 || req.signal?.aborted) return resolve({ ok: false, error: req.signal?.aborted ? 'cancelled' : 'no time left before the lease ends' });
    let settled = false;
    // Called only from callbacks, after `timer` below is set.
    const settle = (result: HookResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const url = new URL(req.endpoint);
    const [client, agent] = url.protocol === 'https:' ? [https, agents.https] : [http, agents.http];
    const body = Buffer.from(req.body);
    let current: http.ClientRequest | undefined;
    const send = (fresh: boolean): void => {
      let answered = false;
      const r = client.request(
        url,
        {
          method: 'POST',
          // `false`: a connection of its own, closed after the answer.
          agent: fresh ? false : agent,
          headers: { ...req.headers, 'Content-Length': String(body.length) },
          lookup: req.allowPrivate ? undefined : publicOnly,
        },
        (res) => {
          answered = true;
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            settle(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
          });
          res.on('error', (err) => settle({ ok: false, status: res.statusCode, error: err.message }));
          // Destroyed before the end of the answer (the deadline, a reset): the error or the reason set below.
          res.on('close', () => settle({ ok: false, status: res.statusCode, error: 'the answer was cut off' }));
        },
      );
      current = r;
      r.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the receiver closed as this request went out on it (its keep-alive timeout, which
        // it need not announce, crossed the request): nothing was answered, so the notification goes again at once
        // on a new connection, within the same deadline, instead of failing and waiting for the worker's retry.
        // Only once, and only on a reused connection: any other failure is the receiver's and is retried later.
        if (!settled && !fresh && !answered && r.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          send(true);
          return;
        }
        settle({ ok: false, error: err.message });
      });
      r.end(body);
    };
    // One timer from the start, whatever the receiver does: the socket is destroyed and the attempt fails.
    const timer = setTimeout(() => {
      settle({ ok: false, error: `no complete answer within ${Math.round(req.deadlineMs)} ms` });
      current?.destroy();
    }, req.deadlineMs);
    const onAbort = (): void => {
      settle({ ok: false, error: 'cancelled' });
      current?.destroy();
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    send(false);
  });
}
