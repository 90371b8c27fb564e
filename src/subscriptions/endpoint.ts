import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { HttpError, outcome } from '../fhir/outcomes.ts';

export interface EndpointPolicy {
  allowHttpLoopback: boolean;
  /** URA (or `*`) → allowed origins. */
  allowedOrigins: Record<string, string[]>;
}

// Addresses a hook must not reach unless its origin is allow-listed: they are the gateway's own network (SSRF).
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 127], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['::ffff:0:0', 96], ['64:ff9b::', 96]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

const refused = (message: string): HttpError => new HttpError(422, outcome('business-rule', message, ['Subscription.channel.endpoint']));

/**
 * Decides whether an organisation may send notifications to `endpoint`: https (plain http only to
 * loopback where allowed), within its allow-list when it has one, and never to a private or
 * link-local address unless the origin is listed. Returns whether private addresses are allowed
 * for it, which the sender checks again at every connection (DNS may change).
 */
export async function checkEndpoint(policy: EndpointPolicy, ura: string, endpoint: string): Promise<{ allowPrivate: boolean }> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw refused(`'${endpoint}' is not an absolute URL`);
  }
  if (url.username || url.password) throw refused('An endpoint may not carry credentials in its URL; use Subscription.channel.header');
  if (url.protocol === 'http:' && policy.allowHttpLoopback && isLoopbackHost(url.hostname)) return { allowPrivate: true };
  if (url.protocol !== 'https:') throw refused('A rest-hook endpoint must use https');
  const list = [...(policy.allowedOrigins[ura] ?? []), ...(policy.allowedOrigins['*'] ?? [])];
  const listed = list.includes(url.origin);
  const hasList = ura in policy.allowedOrigins || '*' in policy.allowedOrigins;
  if (hasList && !listed) throw refused(`The origin ${url.origin} is not on your organisation's allow-list of endpoints`);
  if (listed) return { allowPrivate: true };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw refused(`The endpoint's host ${host} cannot be resolved`);
  }
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) throw refused(`The endpoint's host ${host} is a private, loopback or link-local address, which needs an allow-listed origin`);
  return { allowPrivate: false };
}

/** At send time: may this organisation's endpoint be reached, and may it resolve to a private address? */
export function connectionPolicy(policy: EndpointPolicy, ura: string, endpoint: string): { allowed: boolean; allowPrivate: boolean } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { allowed: false, allowPrivate: false };
  }
  if (url.protocol === 'http:') return { allowed: policy.allowHttpLoopback && isLoopbackHost(url.hostname), allowPrivate: true };
  const list = [...(policy.allowedOrigins[ura] ?? []), ...(policy.allowedOrigins['*'] ?? [])];
  const hasList = ura in policy.allowedOrigins || '*' in policy.allowedOrigins;
  const listed = list.includes(url.origin);
  return { allowed: url.protocol === 'https:' && (listed || !hasList), allowPrivate: listed };
}
