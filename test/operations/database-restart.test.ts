// The database is a fault the gateway lives through (issue 14, rows 2, 10, 11): a gateway process on a PostgreSQL
// cluster of this test's own, restarted three times (fast, immediate, and stopped for a while) under a stream of
// native records. The process stays up; every answer is 201 or 503 with Retry-After and an OperationOutcome;
// what was acknowledged is stored once; LISTEN is open again afterwards and NOTIFY wakes the delivery.
import type { Bundle, OperationOutcome, Parameters } from '@medplum/fhirtypes';
import pg from 'pg';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { DEMO_SECRET } from '../support/gateway.ts';
import { example, setBsn, uniqueBsn, uniqueId } from '../support/native.ts';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.ts';
import { startReceiver, subscriptionBody, type Received, type Receiver } from '../support/receiver.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';
const HAP_URA = '90001234';

interface Sent {
  contactId: string;
  record: Record<string, unknown>;
  status: number | 'no answer';
  retryAfter?: string | null;
  outcome?: OperationOutcome;
  location?: string;
  error?: string;
}

let cluster: PgCluster;
let gateway: ChildGateway;
let receiver: Receiver;

beforeAll(async () => {
  cluster = await startPgCluster();
  // The default connection timeout (5 s): a refused connection (the server down or starting) is answered at once, and
  // a busy machine may take a second or two to open a connection while all is well.
  gateway = await startChildGateway(cluster.url, { DB_POOL_SIZE: '6' });
  receiver = await startReceiver();
}, 120_000);
afterAll(async () => {
  await gateway?.kill('SIGKILL');
  await receiver?.close();
  await cluster?.destroy();
});

function record(): { contactId: string; record: Record<string, unknown> } {
  const contactId = uniqueId('HAPDB');
  return { contactId, record: { ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), uniqueBsn()), contactId } };
}

async function send(r: { contactId: string; record: Record<string, unknown> }): Promise<Sent> {
  try {
    const res = await gateway.fetch('/native/nts', {
      method: 'POST',
      headers: { Authorization: await childAuth(gateway, 'hap-vechtdal'), 'Content-Type': 'application/json' },
      body: JSON.stringify(r.record),
    });
    const text = await res.text();
    const body = text ? (JSON.parse(text) as { resourceType?: string }) : undefined;
    return {
      ...r,
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      outcome: body?.resourceType === 'OperationOutcome' ? (body as OperationOutcome) : undefined,
      location: res.headers.get('location') ?? undefined,
    };
  } catch (err) {
    return { ...r, status: 'no answer', error: String(err instanceof Error ? `${err.message} ${String(err.cause ?? '')}` : err) };
  }
}

async function ready(): Promise<{ status: number; checks: Record<string, string> }> {
  const res = await gateway.fetch('/health/ready');
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
}

async function untilReady(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gateway.process.exitCode !== null || gateway.process.signalCode !== null) throw new Error(`the gateway process ended (${String(gateway.process.exitCode ?? gateway.process.signalCode)})`);
    const r = await ready().catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`not ready again within 60 s: ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function metric(name: string): Promise<number> {
  const text = await (await gateway.fetch('/metrics')).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

/** The Tasks stored now (by an earlier test). */
async function existingTasks(): Promise<Set<string>> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    return new Set((await admin.query<{ id: string }>(`SELECT id FROM resources WHERE resource_type = 'Task'`)).rows.map((r) => r.id));
  } finally {
    await admin.end();
  }
}

function taskOf(location: string | undefined): string {
  const m = /\/Task\/([^/]+)$/.exec(location ?? '');
  if (!m) throw new Error(`no Task in Location ${String(location)}`);
  return m[1]!;
}

function focusOf(r: Received): string {
  const status = (JSON.parse(r.body) as Bundle).entry![0]!.resource as Parameters;
  const ref = status.parameter!.find((p) => p.name === 'notification-event')!.part!.find((p) => p.name === 'focus')!.valueReference!.reference!;
  return /Task\/([^/]+)\/_history/.exec(ref)![1]!;
}

it('with the database stopped: 503 with Retry-After and an OperationOutcome (never 500 or 404, no hang), readiness fails, and it recovers by itself', async () => {
  const created = await send(record());
  expect([created.status, created.error]).toEqual([201, undefined]);
  const taskId = taskOf(created.location);
  const hap = await childAuth(gateway, 'hap-vechtdal');
  await cluster.stop('fast');
  try {
    const answers = await Promise.all([
      send(record()),
      gateway.fetch(`/native/nts/${taskId}`, { headers: { Authorization: hap } }),
      gateway.fetch(`/fhir/Task/${taskId}`, { headers: { Authorization: hap } }),
      gateway.fetch('/fhir/Task?status=requested', { headers: { Authorization: hap } }),
    ]);
    const [write, ...reads] = answers as [Sent, Response, Response, Response];
    expect(write.status).toBe(503);
    expect(write.retryAfter).toMatch(/^\d+$/);
    expect(write.outcome?.issue?.[0]?.code).toBe('transient');
    for (const res of reads) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    // A new token cannot be issued (nor audited) either: OAuth's temporarily_unavailable, 503 with Retry-After.
    const token = await gateway.fetch('/oauth2/token', {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`rav-noordoost:${DEMO_SECRET}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await token.json()) as { error: string }).error).toBe('temporarily_unavailable');
    const state = await ready();
    expect(state.status).toBe(503);
    expect(state.checks.database).toBe('fail');
    // The LISTEN connections went with the database; readiness names them until they are back.
    expect(state.checks.listen).toMatch(/^fail: .*subscription_events/);
    expect((await gateway.fetch('/health/live')).status).toBe(200);
  } finally {
    await cluster.start();
  }
  await untilReady();
  expect((await ready()).checks.listen).toBe('pass');
  expect((await gateway.fetch(`/native/nts/${taskId}`, { headers: { Authorization: hap } })).status).toBe(200);
  expect(gateway.process.exitCode).toBeNull();
}, 120_000);

it('survives three PostgreSQL restarts under a stream of native records: 201 or 503 + Retry-After, nothing lost or doubled, LISTEN back', async () => {
  const sub = await gateway.fetch('/fhir/Subscription', {
    method: 'POST',
    headers: { Authorization: await childAuth(gateway, 'rav-noordoost'), 'Content-Type': 'application/fhir+json' },
    // A generous timeout: the receiver checks its first notification against the OpenAPI description, which it
    // builds then, and a busy machine takes its time.
    body: JSON.stringify(subscriptionBody(receiver.url, RAV, 'id-only', { timeout: 15 })),
  });
  expect(sub.status).toBe(201);
  await receiver.waitFor((r) => r.some((x) => x.type === 'handshake'), 'handshake');

  const tasksBefore = await existingTasks();
  // A stream of records, a few per second, each sent once, while the database goes away three times.
  const sent: Promise<Sent>[] = [];
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      sent.push(send(record()));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    await pause(1500);
    await cluster.restart('fast');
    await untilReady();
    await pause(1000);
    await cluster.restart('immediate');
    await untilReady();
    await pause(1000);
    // Down for a while: requests meanwhile find no database at all.
    await cluster.stop('fast');
    await pause(2500);
    await cluster.start();
    await untilReady();
    await pause(1000);
  } finally {
    streaming = false;
    await stream;
  }
  const answers = await Promise.all(sent);

  // The process lived through it.
  expect(gateway.process.exitCode).toBeNull();
  expect(gateway.process.signalCode).toBeNull();
  // Every answer is 201 or 503 with Retry-After and an OperationOutcome: no 500, no 404, none unanswered.
  expect(answers.filter((a) => a.status !== 201 && a.status !== 503).map((a) => a.status)).toEqual([]);
  for (const a of answers) {
    if (a.status === 503) {
      expect(a.retryAfter).toMatch(/^\d+$/);
      expect(a.outcome?.issue?.[0]?.code).toMatch(/^(transient|timeout)$/);
    }
  }
  // The stop above is long enough that some requests met it.
  expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
  expect(answers.filter((a) => a.status === 201).length).toBeGreaterThan(0);

  // A client sends what was refused again: a record stored after all (its COMMIT went through, its answer did not)
  // is recognised (200, the same Location), the rest are created now.
  const resent = await Promise.all(answers.filter((a) => a.status === 503).map((a) => send(a)));
  expect(resent.filter((r) => r.status !== 200 && r.status !== 201).map((r) => r.status)).toEqual([]);
  const stored = [...answers.filter((a) => a.status === 201), ...resent];

  // In the database: each record once in the ledger, each acknowledged Task there, no Task without its record.
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    const ids = stored.map((s) => s.contactId);
    const ledger = await admin.query<{ record_id: string; n: string }>(
      `SELECT record_id, count(*)::text AS n FROM native_records WHERE sender_ura = $1 AND format = 'nts' AND record_id = ANY($2::text[]) GROUP BY record_id`,
      [HAP_URA, ids],
    );
    expect(ledger.rows.length).toBe(ids.length);
    for (const row of ledger.rows) expect([row.record_id, row.n]).toEqual([row.record_id, '1']);
    const tasks = await admin.query<{ id: string }>(`SELECT id FROM resources WHERE resource_type = 'Task' AND NOT deleted AND id <> ALL($1::text[])`, [[...tasksBefore]]);
    const taskIds = new Set(tasks.rows.map((t) => t.id));
    for (const s of stored) expect(taskIds.has(taskOf(s.location))).toBe(true);
    // Every Task is one of the records sent: none stored twice, none left from a request that failed.
    expect(tasks.rows.length).toBe(new Set(stored.map((s) => taskOf(s.location))).size);
  } finally {
    await admin.end();
  }

  // LISTEN is open again (readiness says so), and a new record's commit is heard through NOTIFY: the count of
  // notifications heard grows and the subscriber is told, without waiting for the worker's poll to find it.
  const state = await ready();
  expect(state.checks.listen).toBe('pass');
  expect(await metric('gateway_db_listen_reconnects')).toBeGreaterThanOrEqual(3);
  const heardBefore = await metric('gateway_db_notifications_received');
  const last = await send(record());
  expect(last.status).toBe(201);
  const lastTask = taskOf(last.location);
  await receiver.waitFor((r) => r.some((x) => x.type === 'event-notification' && focusOf(x) === lastTask), 'the notification of the record sent after recovery');
  expect(await metric('gateway_db_notifications_received')).toBeGreaterThan(heardBefore);
  // And every acknowledged handover was notified in the end.
  const all = new Set(stored.map((s) => taskOf(s.location)));
  await receiver.waitFor((r) => [...all].every((id) => r.some((x) => x.type === 'event-notification' && focusOf(x) === id)), 'every acknowledged handover notified', 60_000);
}, 240_000);
