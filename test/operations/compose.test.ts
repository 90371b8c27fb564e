// The production shape (docker-compose.yml) is safe as committed: no demo clients, every secret from the env file
// that is not committed (.env, described by .env.example), only the TLS proxy on the network, and the proxy
// checking both instances on /health/ready. No Docker engine runs here: the files are read as data.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  env_file?: unknown;
  ports?: string[];
  volumes?: (string | { source?: string; target?: string })[];
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const gateways = services.filter(([, s]) => s.build !== undefined);

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(env.map((entry) => [entry.split('=')[0] ?? entry, entry.slice(entry.indexOf('=') + 1)]));
}

/** `${NAME:?message}`: the value comes from .env and compose refuses to start without it. */
const REQUIRED_REFERENCE = /^\$\{([A-Z_][A-Z0-9_]*):\?[^}]+\}$/;

test('two gateway instances, neither with demo clients', () => {
  expect(gateways.map(([name]) => name)).toEqual(['gateway-1', 'gateway-2']);
  for (const [name, service] of services) {
    const env = environment(service);
    expect([name, env.DEMO, env.DEMO_CLIENT_SECRET]).toEqual([name, undefined, undefined]);
    // Nothing else may bring DEMO in either.
    expect([name, service.env_file]).toEqual([name, undefined]);
  }
  for (const [, service] of gateways) {
    const env = environment(service);
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(env.CLIENTS_FILE).toBe('/etc/handover-gateway/clients.json');
    expect(service.volumes).toContainEqual(expect.objectContaining({ source: './config/clients.json', target: env.CLIENTS_FILE }));
    expect(env.PUBLIC_URL).toMatch(/^https:\/\//);
    expect(env.HOST).toBe('0.0.0.0');
  }
});

test('every secret is a reference to the env file, never a value in the compose file', () => {
  const secrets: string[] = [];
  for (const [name, service] of services) {
    for (const [key, value] of Object.entries(environment(service))) {
      if (/TOKEN|PASSWORD|SECRET/.test(key)) {
        expect([name, key, REQUIRED_REFERENCE.test(value)]).toEqual([name, key, true]);
        secrets.push(key);
      }
      if (key === 'DATABASE_URL') {
        const password = /^postgres:\/\/[^:@/]+:([^@]+)@/.exec(value)?.[1] ?? '';
        expect([name, password]).toEqual([name, expect.stringMatching(REQUIRED_REFERENCE)]);
      }
    }
  }
  for (const [, service] of gateways) {
    expect(Object.keys(environment(service))).toEqual(expect.arrayContaining(['ADMIN_TOKEN', 'METRICS_TOKEN']));
  }
  expect(new Set(secrets)).toEqual(new Set(['ADMIN_TOKEN', 'METRICS_TOKEN', 'POSTGRES_PASSWORD']));
  expect(composeText).not.toMatch(/change-me|demo-secret|demo-admin/);
});

test('the env file is not committed, and its example names every variable the compose file needs', async () => {
  const referenced = new Set([...composeText.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
  const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const described = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  expect([...referenced].sort()).toEqual([...described].sort());
  // The example's secrets are empty: nobody runs with a value copied from the repository.
  for (const line of example.split('\n').filter((l) => /^[A-Z_]*(TOKEN|PASSWORD|SECRET)=/.test(l))) expect(line).toMatch(/=$/);
  // git check-ignore exits 0 for an ignored path.
  const check = promisify(execFile);
  await expect(check('git', ['check-ignore', '-q', '.env'], { cwd: ROOT })).resolves.toBeDefined();
  await expect(check('git', ['check-ignore', '-q', 'config/clients.json'], { cwd: ROOT })).resolves.toBeDefined();
  await expect(check('git', ['check-ignore', '-q', '.env.example'], { cwd: ROOT })).rejects.toMatchObject({ code: 1 });
});

test('only the TLS proxy is on the network; it checks both instances on /health/ready', () => {
  const proxies = services.filter(([, s]) => s.image?.startsWith('caddy:'));
  expect(proxies).toHaveLength(1);
  const [, proxy] = proxies[0] as [string, Service];
  expect(proxy.ports).toEqual(expect.arrayContaining(['0.0.0.0:443:443']));
  expect(proxy.volumes).toContain('./deploy/Caddyfile:/etc/caddy/Caddyfile:ro');
  for (const [name, service] of services) {
    if (service === proxy) continue;
    for (const port of service.ports ?? []) expect([name, port]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:/)]);
  }
  const caddyfile = readFileSync(join(ROOT, 'deploy/Caddyfile'), 'utf8');
  const upstreams = /^\s*reverse_proxy\s+([^{]+)\{/m.exec(caddyfile)?.[1]?.trim().split(/\s+/);
  expect(upstreams).toEqual(gateways.map(([name]) => `${name}:8080`));
  expect(caddyfile).toMatch(/^\s*health_uri \/health\/ready$/m);
  expect(caddyfile).toMatch(/^\s*health_interval \d+s$/m);
});
