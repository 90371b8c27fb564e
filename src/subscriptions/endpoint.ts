import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { HttpError, outcome } from '../fhir/outcomes.ts';

export interface EndpointPolicy {
  allowHttpLoopback: boolean;
  /** URA (or `*`) → allowed origins. */
  allowedOrigins: Record<string, string[]>;
}

// Addresses a hook must not reach unless its origin is allow-listed: they are the gateway's own network (SSRF).
// Two lists, one per family: Node's BlockList checks an IPv4 address against IPv6 rules as its mapped form
// (::ffff:a.b.c.d), so a `::ffff:0:0/96` rule in one shared list matched every IPv4 address (issue 14, row 6).
const PRIVATE_V4 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE_V4.addSubnet(net, bits, 'ipv4');
// IPv6 ranges that are never a public host: unspecified, loopback and IPv4-compatible (::/96), discard-only,
// documentation, unique-local, link-local, site-local (deprecated), multicast. Forms that carry an IPv4
// address (mapped, NAT64, 6to4) are judged by that address instead (embeddedIPv4).
const PRIVATE_V6 = new BlockList();
for (const [net, bits] of [
  ['::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) PRIVATE_V6.addSubnet(net, bits, 'ipv6');

/** The 16 bytes of an IPv6 address (isIP already said it is one), the dotted IPv4 tail form included. */
function ipv6Bytes(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    tail.push(...dotted.slice(1, 5).map(Number));
    text = `${text.slice(0, dotted.index)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(rest);
  const all = rest === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The IPv4 address an IPv6 address stands for, where it is one of the forms that carry one. */
function embeddedIPv4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  const v4 = (at: number): string => b.slice(at, at + 4).join('.');
  const zero = (from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d, mapped
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // 64:ff9b::/96, NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002::/16, 6to4
  return undefined;
}

/** Whether a hook must not reach `address` (anything not an IP address counts as private: fail closed). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE_V4.check(address, 'ipv4');
  if (family !== 6) return true;
  const v4 = embeddedIPv4(address);
  if (v4 !== undefined) return PRIVATE_V4.check(v4, 'ipv4');
  return PRIVATE_V6.check(address, 'ipv6');
}

function isLoopbackHost(hostname: string): boolean {
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

/**
 * At send time: may this organisation's endpoint be reached, and may it resolve to a private address? Decided
 * again at every connection from the policy as it is now, not as it was when the subscription was made: an
 * origin taken off the allow-list stops being reached. A host name is checked when it resolves (rest-hook's
 * lookup); an IP literal is never resolved, so it is checked here.
 */
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
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const privateLiteral = isIP(host) !== 0 && isPrivateAddress(host);
  return { allowed: url.protocol === 'https:' && (listed || (!hasList && !privateLiteral)), allowPrivate: listed };
}
