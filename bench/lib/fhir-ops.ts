import { fetchAgain } from './fetch-again.ts';
import { combineCpu, cpuPerUnit, cpuSnapshot, type CpuPerUnit } from './cpu-time.ts';
import { gcTime, type GcTime } from './gc-time.ts';
import { combineLoads, load, type LoadResult } from './stats.ts';
import { benchServiceRequest, benchTask } from './bench-resources.ts';
import { LeanClient } from './lean-client.ts';

/** A FHIR R4 server to measure: the gateway, or another named by COMPARE_FHIR_URL (HAPI FHIR, Medplum, ...). */
export interface FhirTarget {
  name: string;
  base: string;
  token: string;
  /** The server's processes, for their CPU time (the gateway's; COMPARE_FHIR_PID for another on this machine). */
  pids?: readonly number[];
  /** Its PostgreSQL database's name: with the measured databases known, only its backends count in its slices. */
  database?: string;
  /** The gateway's own address (not the FHIR base), for its GC time from /metrics; another server has none. */
  gatewayUrl?: string;
  /** Organizations the Tasks name; made on the server when not given. */
  ownerRef?: string;
  requesterRef?: string;
}

/** Seconds each operation runs unmeasured on each server right before it is measured (BENCH_WARMUP, 5; 0: none). */
export const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 5);

export const FHIR_OPERATIONS = ['create', 'read', 'search', 'searchTotal', 'searchNoTotal'] as const;
export type FhirOperation = (typeof FHIR_OPERATIONS)[number];

export const OPERATION_LABELS: Record<FhirOperation, string> = {
  create: 'Task create',
  read: 'Task read',
  search: 'Task search status+owner',
  searchTotal: '... with _total=accurate',
  searchNoTotal: '... with _total=none',
};

interface OperationResult extends LoadResult {
  /** CPU per operation: the server's (when its pid is known) and every PostgreSQL process on this machine. */
  cpu: CpuPerUnit;
  /** The gateway's GC pauses over the operation (when its gatewayUrl is known), in ms in all. */
  gc?: GcTime;
  /** Each slice on its own, in the order run: how far one slice's CPU per operation is from the next (the noise). */
  perSlice: { ok: number; cpu: CpuPerUnit; gc?: GcTime }[];
  /** The unmeasured run before the slices (`warmupSeconds`), for what a cold server pays: none when there was none. */
  warmup?: { ok: number; cpu: CpuPerUnit };
}

export type FhirOpsResult = Record<FhirOperation, OperationResult>;

/** What the unmeasured run before an operation's slices cost, for the line under its figures; '' when there was none. */
export function warmupLine(r: OperationResult, seconds: number, server: 'gateway' | 'server' = 'gateway'): string {
  if (!r.warmup) return '';
  const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(2)} ms`);
  return `measured after ${seconds} s of it unmeasured (${r.warmup.ok} operations), in which one cost the ${server} ${ms(r.warmup.cpu.gatewayMs)} + PostgreSQL ${ms(r.warmup.cpu.postgresMs)}`;
}

interface Prepared {
  target: FhirTarget;
  headers: Record<string, string>;
  owner: string;
  task: object;
  created: string[];
  next: number;
}

async function prepare(target: FhirTarget): Promise<Prepared> {
  const headers = { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' };
  const post = async (type: string, body: object): Promise<{ id: string }> => {
    const res = await fetchAgain(`${target.base}/${type}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`${target.name}: create ${type}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as { id: string };
  };
  const owner = target.ownerRef ?? `Organization/${(await post('Organization', { resourceType: 'Organization', name: 'Bench owner' })).id}`;
  const requester = target.requesterRef ?? `Organization/${(await post('Organization', { resourceType: 'Organization', name: 'Bench requester' })).id}`;
  const patient = await post('Patient', {
    resourceType: 'Patient',
    identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111' }],
    name: [{ family: 'Bench', given: ['Test'] }],
    gender: 'unknown',
    birthDate: '1950-01-01',
  });
  const serviceRequest = await post('ServiceRequest', benchServiceRequest(`Patient/${patient.id}`, requester, owner));
  const task = benchTask(requester, owner, new Date().toISOString(), { patient: `Patient/${patient.id}`, serviceRequest: `ServiceRequest/${serviceRequest.id}` });
  return { target, headers, owner, task, created: [], next: 0 };
}

/** Ids of Tasks the server already holds (the seeded ones), for reads when nothing was created in this run. */
async function storedTaskIds(p: Prepared): Promise<void> {
  const res = await fetchAgain(`${p.target.base}/Task?status=requested&owner=${encodeURIComponent(p.owner)}&_count=1000&_total=none`, { headers: p.headers });
  if (res.status !== 200) throw new Error(`${p.target.name}: Task ids to read: ${res.status} ${(await res.text()).slice(0, 300)}`);
  const bundle = (await res.json()) as { entry?: { resource: { id: string } }[] };
  p.created.push(...(bundle.entry ?? []).map((e) => e.resource.id));
  if (p.created.length === 0) throw new Error(`${p.target.name}: no Tasks to read`);
}

function call(p: Prepared, op: FhirOperation, client: LeanClient): () => Promise<boolean | string> {
  const base = new URL(p.target.base).pathname.replace(/\/$/, '');
  const search = (extra: string) => async (): Promise<boolean | string> => {
    const res = await client.send('GET', `${base}/Task?status=requested&owner=${encodeURIComponent(p.owner)}&_count=20${extra}`, p.headers);
    return res.status === 200 || `HTTP ${res.status}`;
  };
  const task = JSON.stringify(p.task);
  switch (op) {
    case 'create':
      return async () => {
        const res = await client.send('POST', `${base}/Task`, { ...p.headers, Prefer: 'return=minimal' }, task);
        const id = /Task\/([^/]+)/.exec(res.location ?? '')?.[1];
        if (id) p.created.push(id);
        return res.status === 201 || `HTTP ${res.status}`;
      };
    case 'read':
      return async () => {
        const id = p.created[p.next++ % Math.max(p.created.length, 1)];
        const res = await client.send('GET', `${base}/Task/${id}`, p.headers);
        return res.status === 200 || `HTTP ${res.status}`;
      };
    case 'search':
      return search('');
    case 'searchTotal':
      return search('&_total=accurate');
    case 'searchNoTotal':
      return search('&_total=none');
  }
}

/**
 * Runs `op` against `p` from `concurrency` clients for `seconds`, over keep-alive connections of their own (LeanClient:
 * a load generator that takes little of the cores the servers share), closed at the end: a connection left idle
 * while the other server's slice runs may be closed by its server just as it is reused.
 */
async function loadOn(p: Prepared, op: FhirOperation, concurrency: number, seconds: number): Promise<LoadResult> {
  const client = new LeanClient(p.target.base, concurrency);
  try {
    return await load(concurrency, seconds, call(p, op, client));
  } finally {
    client.close();
  }
}

/**
 * Task create, read and search (`status` + `owner`: the server's default total, `_total=accurate`, `_total=none`)
 * against one or more FHIR R4 servers. With several, each operation alternates between them in `slices` (a shared
 * VM's speed drifts within a minute: a ratio should compare servers measured in the same minutes).
 */
export async function fhirOps<O extends FhirOperation = FhirOperation>(
  targets: FhirTarget[],
  concurrency: number,
  seconds: number,
  slices: number,
  /** Runs between the creates and the reads (the gateway's run refreshes the planner's statistics there). */
  afterCreate?: () => Promise<void>,
  /** The operations to run (all by default); a result has only these. */
  only?: readonly O[],
  /** Seconds each operation runs unmeasured on each server right before its slices. */
  warmupSeconds = WARMUP_SECONDS,
): Promise<Record<O, OperationResult>[]> {
  const operations: readonly FhirOperation[] = only ?? FHIR_OPERATIONS;
  const prepared = await Promise.all(targets.map(prepare));
  // Reads without creates before them (`BENCH_OPS=read`) read stored Tasks: without ids every read was a 404.
  if (operations.includes('read') && !operations.includes('create')) await Promise.all(prepared.map(storedTaskIds));
  const parts = prepared.map(() => new Map<FhirOperation, { load: LoadResult; cpu: CpuPerUnit; gc?: GcTime }[]>());
  const warmups = prepared.map(() => new Map<FhirOperation, { ok: number; cpu: CpuPerUnit }>());
  for (const op of operations) {
    // Each operation first runs unmeasured on each server, as a server in service runs warm: measured cold, an
    // operation carried its code's compilation by V8 and each pooled backend's first plans of its statements. A Task
    // create's first 4 s cost the gateway 2.70 ms and PostgreSQL 2.50 ms each, the next four slices of 4 s 1.16-1.75
    // and 1.73-2.04 ms (2026-12-07); before, only 2 s of searches warmed the server, for its start (issue 19.1).
    if (warmupSeconds > 0) {
      for (const [k, p] of prepared.entries()) {
        const before = cpuSnapshot(p.target.pids, p.target.database);
        const r = await loadOn(p, op, concurrency, warmupSeconds);
        warmups[k]?.set(op, { ok: r.ok, cpu: cpuPerUnit(before, cpuSnapshot(p.target.pids, p.target.database), r.ok) });
      }
    }
    for (let s = 0; s < slices; s++) {
      // Each slice starts with another server, so that none always runs right after the same one.
      const order = prepared.map((_, k) => (k + s) % prepared.length);
      for (const k of order) {
        const p = prepared[k] as Prepared;
        const url = p.target.gatewayUrl;
        const gcBefore = url === undefined ? undefined : await gcTime(url);
        const before = cpuSnapshot(p.target.pids, p.target.database);
        const r = await loadOn(p, op, concurrency, seconds / slices);
        const cpu = cpuPerUnit(before, cpuSnapshot(p.target.pids, p.target.database), r.ok);
        const gcAfter = url === undefined ? undefined : await gcTime(url);
        const gc = gcBefore && gcAfter ? { minorMs: gcAfter.minorMs - gcBefore.minorMs, majorMs: gcAfter.majorMs - gcBefore.majorMs } : undefined;
        const list = parts[k]?.get(op) ?? [];
        list.push({ load: r, cpu, gc });
        parts[k]?.set(op, list);
      }
    }
    if (op === 'create') await afterCreate?.();
  }
  return parts.map((byOp, k) => {
    const result: Partial<FhirOpsResult> = {};
    for (const op of operations) {
      const list = byOp.get(op) ?? [];
      const gcs = list.map((x) => x.gc).filter((g) => g !== undefined);
      const gc = gcs.length === 0 ? undefined : { minorMs: gcs.reduce((t, g) => t + g.minorMs, 0), majorMs: gcs.reduce((t, g) => t + g.majorMs, 0) };
      result[op] = {
        ...combineLoads(list.map((x) => x.load)),
        cpu: combineCpu(list.map((x) => ({ cpu: x.cpu, units: x.load.ok }))),
        gc,
        perSlice: list.map((x) => ({ ok: x.load.ok, cpu: x.cpu, gc: x.gc })),
        warmup: warmups[k]?.get(op),
      };
    }
    // Every operation asked for has its result.
    return result as Record<O, OperationResult>;
  });
}
