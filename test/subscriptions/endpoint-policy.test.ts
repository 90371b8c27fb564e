// The SSRF policy's decisions, without sending anything anywhere (issue 14, rows 6 and 13): which addresses a
// rest-hook may reach, what a subscription may name, and what the sender may connect to under the policy as it is now.
import { checkEndpoint, connectionPolicy, isPrivateAddress, type EndpointPolicy } from '../../src/subscriptions/endpoint.ts';

const PUBLIC = [
  '8.8.8.8', '1.1.1.1', '145.97.0.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.169.0.1', '223.255.255.255',
  '2001:4860:4860::8888', '2606:4700:4700::1111', '2a00:1450:400e:80c::200e',
  // Forms that carry a public IPv4 address.
  '::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::8.8.8.8', '2002:808:808::1',
];
const PRIVATE = [
  // IPv4: this network, private, CGNAT, loopback, link-local (cloud metadata), IETF, test nets, benchmarking, multicast, reserved, broadcast.
  '0.0.0.0', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.254', '127.0.0.1', '127.255.255.254', '169.254.169.254', '172.16.0.1',
  '172.31.255.255', '192.0.0.8', '192.0.2.1', '192.168.1.1', '198.18.0.1', '198.51.100.7', '203.0.113.9', '224.0.0.1', '240.0.0.1', '255.255.255.255',
  // IPv6: unspecified, loopback, IPv4-compatible, discard, documentation, unique-local, link-local, site-local, multicast.
  '::', '::1', '::127.0.0.1', '100::1', '2001:db8::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'febf::1', 'fec0::1', 'ff02::1',
  // Mapped, NAT64 and 6to4 forms of private IPv4 addresses.
  '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe', '2002:c0a8:101::1', '2002:7f00:1::',
  // Not an address at all: fail closed.
  'localhost', '', 'fe80::1%eth0',
];

describe('isPrivateAddress', () => {
  it.each(PUBLIC)('%s is public', (address) => expect(isPrivateAddress(address)).toBe(false));
  it.each(PRIVATE)('%s is not reachable by a hook', (address) => expect(isPrivateAddress(address)).toBe(true));
});

const open: EndpointPolicy = { allowHttpLoopback: false, allowedOrigins: {} };
const HAP = '90001234';

describe('checkEndpoint (when a subscription is made or changed)', () => {
  it.each(['https://8.8.8.8/hook', 'https://[2606:4700:4700::1111]/hook', 'https://[::ffff:8.8.8.8]:8443/hook'])('accepts the public IP literal %s', async (endpoint) => {
    await expect(checkEndpoint(open, HAP, endpoint)).resolves.toEqual({ allowPrivate: false });
  });

  it.each(['https://10.0.0.5/hook', 'https://127.0.0.1:8443/hook', 'https://[::1]/hook', 'https://[::ffff:127.0.0.1]/hook', 'https://169.254.169.254/latest', 'https://[fd00::1]/hook', 'https://100.64.0.1/hook'])(
    'refuses the private IP literal %s (422)',
    async (endpoint) => {
      await expect(checkEndpoint(open, HAP, endpoint)).rejects.toMatchObject({ status: 422 });
    },
  );

  it('accepts a private address whose origin is allow-listed', async () => {
    await expect(checkEndpoint({ allowHttpLoopback: false, allowedOrigins: { [HAP]: ['https://10.0.0.5'] } }, HAP, 'https://10.0.0.5/hook')).resolves.toEqual({ allowPrivate: true });
  });
});

describe('connectionPolicy (at every send, under the policy as it is now)', () => {
  it('sends to a public IP literal', () => {
    expect(connectionPolicy(open, HAP, 'https://8.8.8.8/hook')).toEqual({ allowed: true, allowPrivate: false });
    expect(connectionPolicy(open, HAP, 'https://[2606:4700:4700::1111]/hook')).toEqual({ allowed: true, allowPrivate: false });
  });

  it.each(['https://10.0.0.5/hook', 'https://127.0.0.1:8443/hook', 'https://[::ffff:a00:5]/hook', 'https://[fe80::1]/hook', 'https://169.254.169.254/'])(
    'does not send to the private IP literal %s once its origin is no longer listed (an IP literal is never resolved)',
    (endpoint) => {
      expect(connectionPolicy(open, HAP, endpoint).allowed).toBe(false);
    },
  );

  it('sends to a private IP literal while its origin is listed, and leaves host names to the checked lookup', () => {
    expect(connectionPolicy({ allowHttpLoopback: false, allowedOrigins: { [HAP]: ['https://10.0.0.5'] } }, HAP, 'https://10.0.0.5/hook')).toEqual({ allowed: true, allowPrivate: true });
    expect(connectionPolicy(open, HAP, 'https://hooks.example.org/hook')).toEqual({ allowed: true, allowPrivate: false });
  });
});
