// What survives the young generation, per request: the bytes V8's scavenges promote to the old generation, where only
// a major collection frees them again. Promoted garbage fills the old generation to a major collection every few
// seconds under load, whose marking shares the two cores and whose pauses are the notification tail's slowest
// (docs/performance.md, the twenty-fifth and twenty-sixth rounds). By kind of request, at a steady rate:
// - the gateway as `npm start` starts it, on a fresh PostgreSQL database of its own (dropped at the end): a health check
//   (no database, no token), the CapabilityStatement (audited), a read of a Task that is not there (token, read,
//   audit), an Organization search, a Task create (no subscriber);
// - a plain node:http server running three pg statements per request (bench/lib/pg-echo-server.ts): by pool.query,
//   without and with pg's `query_timeout` (the gateway no longer uses it: src/store/query-deadline.ts), and on a pooled
//   client in pg's promise form and with a callback of its own (the gateway's runQuery, src/store/pg-query-internals.ts).
// Bytes promoted are a count, not a time: a busy machine moves them little, so one run compares.
// Run: node bench/promotion.ts   Options: DATABASE_URL (the server, default postgres://postgres@127.0.0.1:5432/postgres),
// BENCH_RATE (requests/s, 100), BENCH_SECONDS (each kind, 15), BENCH_WARMUP_SECONDS (each kind first, unmeasured, 8),
// BENCH_KINDS (health,metadata,read,search,create,pg,pg-query-timeout,pg-promise,pg-callback).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '../test/support/free-port.ts';
import { adminSql } from './lib/admin-sql.ts';
import { benchTask } from './lib/bench-resources.ts';
import { fetchAgain } from './lib/fetch-again.ts';
import { demoToken, startCommand, startGatewayProcess } from './lib/gateway-process.ts';
import { LeanClient } from './lib/lean-client.ts';
import { PromotedBytes } from './lib/promoted-bytes.ts';

const rate = Number(process.env.BENCH_RATE ?? 100);
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 8);
const kinds = (process.env.BENCH_KINDS ?? 'health,metadata,read,search,create,pg,pg-query-timeout,pg-promise,pg-callback').split(',');
/** The plain server's variants: its environment and its line's label. */
const PG_VARIANTS: Record<string, [Record<string, string>, string]> = {
  pg: [{ PG_FORM: 'pool' }, 'node:http + pg, pool.query'],
  'pg-query-timeout': [{ PG_FORM: 'pool', PG_QUERY_TIMEOUT_MS: '30000' }, 'node:http + pg, pool.query, query_timeout'],
  'pg-promise': [{ PG_FORM: 'promise' }, 'node:http + pg, client.query(config)'],
  'pg-callback': [{ PG_FORM: 'callback' }, 'node:http + pg, client.query(own Query)'],
};
const adminUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');

const admin = (sql: string): Promise<void> => adminSql(adminUrl, sql);

/** `send` at `rate` a second for `s` seconds, open loop; the answers that were not 2xx–4xx. */
async function offer(send: () => Promise<number>, s: number): Promise<{ sent: number; failed: number }> {
  const started = performance.now();
  let sent = 0;
  let failed = 0;
  const pending: Promise<void>[] = [];
  while (performance.now() - started < s * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) pending.push(send().then((status) => void (status >= 500 || status === 0 ? failed++ : 0), () => void failed++));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(pending);
  return { sent, failed };
}

async function measure(label: string, promoted: PromotedBytes, send: () => Promise<number>): Promise<void> {
  if (warmupSeconds > 0) await offer(send, warmupSeconds);
  const before = promoted.snapshot();
  const { sent, failed } = await offer(send, seconds);
  const { bytes, scavenges } = promoted.since(before);
  console.log(
    `${label.padEnd(44)} ${(bytes / 1024 / sent).toFixed(2).padStart(7)} KB promoted per request   (${(bytes / 1024 / 1024).toFixed(1)} MB in ${scavenges} scavenges, ${sent} requests, ${failed} failed)`,
  );
}

console.log(`promoted per request at ${rate} requests/s, ${seconds} s each after ${warmupSeconds} s unmeasured`);
const gatewayKinds = kinds.filter((k) => ['health', 'metadata', 'read', 'search', 'create'].includes(k));
if (gatewayKinds.length > 0) {
  const name = `bench_promotion_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const dbUrl = new URL(adminUrl.toString());
  dbUrl.pathname = `/${name}`;
  const promoted = new PromotedBytes();
  const gateway = await startGatewayProcess({ DATABASE_URL: dbUrl.toString(), DEMO: '1' }, ['--trace-gc-nvp'], undefined, (line) => promoted.line(line));
  const client = new LeanClient(gateway.url, 20);
  try {
    const token = await demoToken(gateway.url);
    const auth = { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' };
    const orgRef = async (ura: string): Promise<string> => {
      const res = await fetchAgain(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: auth });
      return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
    };
    const task = JSON.stringify(benchTask(await orgRef('90001234'), await orgRef('90004567'), new Date().toISOString()));
    const sends: Record<string, [string, () => Promise<number>]> = {
      health: ['gateway: GET /health/live', async () => (await client.send('GET', '/health/live', {})).status],
      metadata: ['gateway: GET /fhir/metadata', async () => (await client.send('GET', '/fhir/metadata', { Accept: 'application/fhir+json' })).status],
      read: ['gateway: GET /fhir/Task/{id}, not there (404)', async () => (await client.send('GET', '/fhir/Task/0190a0a0-0000-7000-8000-000000000000', auth)).status],
      search: ['gateway: GET /fhir/Organization?_count=1', async () => (await client.send('GET', '/fhir/Organization?_count=1', auth)).status],
      create: ['gateway: POST /fhir/Task', async () => (await client.send('POST', '/fhir/Task', { ...auth, 'Content-Type': 'application/fhir+json', Prefer: 'return=minimal' }, task)).status],
    };
    for (const kind of gatewayKinds) {
      const [label, send] = sends[kind] as [string, () => Promise<number>];
      await measure(label, promoted, send);
    }
  } finally {
    client.close();
    await gateway.stop();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

for (const kind of kinds.filter((k) => k in PG_VARIANTS)) {
  const [variantEnv, label] = PG_VARIANTS[kind] as [Record<string, string>, string];
  const port = await freePort();
  const promoted = new PromotedBytes();
  // The gateway's young generation (npm start's --max-semi-space-size), so that scavenges come as often.
  const child = fork(join(import.meta.dirname, 'lib', 'pg-echo-server.ts'), [], {
    execArgv: [...startCommand(join(import.meta.dirname, '..')).options, '--trace-gc-nvp'],
    env: { ...process.env, PORT: String(port), DATABASE_URL: adminUrl.toString(), PG_QUERY_TIMEOUT_MS: '', ...variantEnv },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) promoted.line(line);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`pg-echo-server exited with ${code}`)));
  });
  const client = new LeanClient(`http://127.0.0.1:${port}`, 20);
  const body = JSON.stringify({ resourceType: 'Task', status: 'requested', intent: 'order', note: [{ text: 'x'.repeat(1500) }] });
  try {
    await measure(label, promoted, async () => (await client.send('POST', '/', { 'Content-Type': 'application/json' }, body)).status);
  } finally {
    client.close();
    child.kill('SIGTERM');
  }
}
