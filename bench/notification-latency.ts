// Notification latency: from the commit of a handover (the outbox's NOTIFY, heard by the benchmark itself) to the
// receiver's endpoint, at steady rates of new handovers offered, against a gateway process on
// PostgreSQL (a fresh database of its own, dropped at the end). Also the native ingest rate (closed loop) without and
// with the subscribed receiver.
// Run: node bench/notification-latency.ts   Options: DATABASE_URL (the server, default postgres://postgres@127.0.0.1:5432/postgres),
// BENCH_RATES (handovers/s offered, comma-separated, default 20,50,100,200), BENCH_NOTIFY_KINDS (native records, Task creates or both: native,fhir), BENCH_SECONDS (10), BENCH_CLIENTS (32; 0 skips the ingest runs),
// BENCH_WARMUP_SECONDS (10; 0: none): before the measured runs, each kind is offered at the first rate for this long and
// not counted. The gateway starts just before; its first second of writes runs code not yet optimised (event-loop
// delays of 20-110 ms, GC pauses up to 50 ms) and statements not yet prepared on each connection, and the backlog the
// delivery builds then took 4-5 s to drain: at 100 Task creates/s every event notified after 4.5 s came within 126 ms,
// the p99 of the whole run was 763 ms (one traced run). That is the start of a process, measured once per run at
// whichever rate came first, not the delivery at that rate. Nor is 3 s enough (2026-12-07, Task creates at 100/s for 20 s
// after it: p99 31.8 ms, 109 of 2,000 above 15 ms, 87 of them in the first 7 s; after 10 s: p99 14.4 ms, 18 above 15 ms).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminSql } from './lib/admin-sql.ts';
import { startGatewayProcess } from './lib/gateway-process.ts';
import { nativeIngest } from './lib/ingest.ts';
import { latencyLine, notificationBench, type NotifyWriteKind } from './lib/notification-latency.ts';

const rates = (process.env.BENCH_RATES ?? '20,50,100,200').split(',').map(Number);
const kinds = (process.env.BENCH_NOTIFY_KINDS ?? 'native,fhir').split(',') as NotifyWriteKind[];
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const adminUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const admin = (sql: string): Promise<void> => adminSql(adminUrl, sql);

// Its own name (a leftover is dropped by CI after a day), so that it never meets `npm run bench`'s bench_notify.
const name = `bench_notify_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
await admin(`CREATE DATABASE ${name}`);
const dbUrl = new URL(adminUrl.toString());
dbUrl.pathname = `/${name}`;
const gateway = await startGatewayProcess({ DATABASE_URL: dbUrl.toString(), DEMO: '1', ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
try {
  if (clients > 0) {
    const without = await nativeIngest(gateway.url, clients, seconds, example);
    console.log(`native ingest, ${clients} clients, no subscriber:     ${without.perSecond.toFixed(1)} handovers/s, p50 ${without.p50.toFixed(1)} ms, p99 ${without.p99.toFixed(1)} ms`);
  }
  const bench = await notificationBench(gateway.url, dbUrl.toString(), example);
  try {
    if (clients > 0) {
      const withSub = await nativeIngest(gateway.url, clients, seconds, example);
      console.log(`native ingest, ${clients} clients, one subscriber:    ${withSub.perSecond.toFixed(1)} handovers/s, p50 ${withSub.p50.toFixed(1)} ms, p99 ${withSub.p99.toFixed(1)} ms`);
    }
    if (warmupSeconds > 0) for (const kind of kinds) console.log(`warm-up, not counted: ${latencyLine(await bench.run(rates[0] ?? 100, warmupSeconds, kind))}`);
    for (const kind of kinds) for (const rate of rates) console.log(`notification latency, ${latencyLine(await bench.run(rate, seconds, kind))}`);
  } finally {
    await bench.close();
  }
} finally {
  await gateway.stop();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
