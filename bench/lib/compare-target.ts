import pg from 'pg';
import type { FhirTarget } from './fhir-ops.ts';
import { procStatusMb } from './gateway-process.ts';
import { benchTask } from './bench-resources.ts';

const TASKS_PER_BUNDLE = 100;
const BUNDLES_AT_ONCE = 2;
/** Marks the Organizations the benchmark made on another server, to find them again. */
const BENCH_SYSTEM = 'urn:handover-gateway:bench';

/**
 * The other FHIR server of the comparison mode (issue 19: Medplum beside the gateway), from the environment:
 * COMPARE_FHIR_URL and COMPARE_FHIR_TOKEN (a bearer token the server accepts), COMPARE_FHIR_PID (its process, or
 * several separated by commas, e.g. the server and its Redis, whose CPU is added up) and COMPARE_DATABASE_URL (its
 * PostgreSQL database, analyzed after the creates as the gateway's is). Undefined without URL and token.
 */
export function compareTargetFromEnv(env: NodeJS.ProcessEnv = process.env): { target: FhirTarget; databaseUrl?: string } | undefined {
  const url = env.COMPARE_FHIR_URL;
  const token = env.COMPARE_FHIR_TOKEN;
  if (!url || !token) return undefined;
  const pids = (env.COMPARE_FHIR_PID ?? '').split(',').filter((p) => p.trim() !== '').map(Number);
  const databaseUrl = env.COMPARE_DATABASE_URL;
  return { target: { name: 'other', base: url.replace(/\/+$/, ''), token, pids: pids.length > 0 ? pids : undefined, database: databaseUrl ? databaseName(databaseUrl) : undefined }, databaseUrl };
}

/** The database a PostgreSQL URL names. */
export const databaseName = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1));

/**
 * Stores requested Tasks on another FHIR server until `count` of them match the benchmark's search, through its own
 * API (batch Bundles: the peer's store is not ours to write into), so that its searches run on a table as large as
 * the gateway's. The owner and requester Organizations are found by an identifier of the benchmark's, or made: a
 * second run on the same server tops up instead of storing another `count` (minutes at the peer's pace).
 */
export async function seedTasksOverFhir(target: FhirTarget, count: number): Promise<FhirTarget> {
  const headers = { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' };
  const post = async (body: object, type = ''): Promise<Response> => fetch(`${target.base}/${type}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const get = async <T>(query: string): Promise<T> => {
    const res = await fetch(`${target.base}/${query}`, { headers });
    if (res.status !== 200) throw new Error(`${target.name}: GET ${query}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as T;
  };
  const organization = async (role: string): Promise<string> => {
    const found = await get<{ entry?: { resource: { id: string } }[] }>(`Organization?identifier=${encodeURIComponent(`${BENCH_SYSTEM}|${role}`)}`);
    const id = found.entry?.[0]?.resource.id;
    if (id) return `Organization/${id}`;
    const res = await post({ resourceType: 'Organization', identifier: [{ system: BENCH_SYSTEM, value: role }], name: `Bench ${role}` }, 'Organization');
    if (res.status !== 201) throw new Error(`${target.name}: create Organization: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return `Organization/${((await res.json()) as { id: string }).id}`;
  };
  const ownerRef = target.ownerRef ?? (await organization('owner'));
  const requesterRef = target.requesterRef ?? (await organization('requester'));
  const stored = (await get<{ total?: number }>(`Task?status=requested&owner=${encodeURIComponent(ownerRef)}&_summary=count&_total=accurate`)).total ?? 0;
  count = Math.max(0, count - stored);
  const task = benchTask(requesterRef, ownerRef, new Date().toISOString());

  const bundles = Array.from({ length: Math.ceil(count / TASKS_PER_BUNDLE) }, (_, b) => Math.min(TASKS_PER_BUNDLE, count - b * TASKS_PER_BUNDLE));
  let next = 0;
  await Promise.all(
    Array.from({ length: BUNDLES_AT_ONCE }, async () => {
      for (let b = next++; b < bundles.length; b = next++) {
        const entry = Array.from({ length: bundles[b] ?? 0 }, () => ({ request: { method: 'POST', url: 'Task' }, resource: task }));
        const res = await post({ resourceType: 'Bundle', type: 'batch', entry });
        const text = await res.text();
        const statuses = res.status === 200 ? ((JSON.parse(text) as { entry?: { response?: { status?: string } }[] }).entry ?? []).map((e) => e.response?.status ?? '') : [];
        const refused = statuses.filter((s) => !s.startsWith('201'));
        if (res.status !== 200 || statuses.length !== entry.length || refused.length > 0) {
          throw new Error(`${target.name}: batch of Tasks: ${res.status} ${refused.slice(0, 3).join(', ')} ${text.slice(0, 300)}`);
        }
      }
    }),
  );
  return { ...target, ownerRef, requesterRef };
}

/**
 * ANALYZE a database, as the gateway's is analyzed after the creates (this machine's PostgreSQL runs no autovacuum).
 * BENCH_VACUUM=1: VACUUM ANALYZE, what a production server's autovacuum does within a minute of 20,000 inserts: the
 * pages become all-visible, which spares a count's bitmap scan the visibility test of each row (PostgreSQL 15.20
 * still reads every heap page of it) and changes nothing for a sequential scan (measured: 13.8 -> 11.6 ms and
 * 16.4 -> 16.4 ms of backend CPU per count of 20,000 Tasks). Off by default, so that figures stay comparable with
 * earlier runs'.
 */
export async function analyzeDatabase(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(process.env.BENCH_VACUUM === '1' ? 'VACUUM ANALYZE' : 'ANALYZE');
  } finally {
    await client.end();
  }
}

/**
 * The largest resident set size of a process seen while the benchmark runs (sampled every 200 ms): its VmHWM
 * would include whatever it used before (another server's start-up and migrations).
 */
export function sampleRss(pid: number): { stop: () => number } {
  let peak = 0;
  const sample = (): void => {
    try {
      peak = Math.max(peak, procStatusMb(pid, 'VmRSS'));
    } catch {
      // the process ended: the peak so far stands
    }
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
