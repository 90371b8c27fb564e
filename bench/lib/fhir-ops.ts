import { fetchAgain } from './fetch-again.ts';
import { combineCpu, cpuPerUnit, cpuSnapshot, type CpuPerUnit } from './cpu-time.ts';
import { gcTime, type GcTime } from './gc-time.ts';
import { combineLoads, load, type LoadResult } from './stats.ts';
import { benchServiceRequest, benchTask } from './bench-resources.ts';

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

/** Seconds of unmeasured searches on each server before the first operation (BENCH_WARMUP, 2; 0: none). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 2);

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
}

export type FhirOpsResult = Record<FhirOperation, OperationResult>;

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

function call(p: Prepared, op: FhirOperation): () => Promise<boolean | string> {
  const { base } = p.target;
  const search = (extra: string) => async (): Promise<boolean | string> => {
    const res = await fetch(`${base}/Task?status=requested&owner=${encodeURIComponent(p.owner)}&_count=20${extra}`, { headers: p.headers });
    await res.arrayBuffer();
    return res.status === 200 || `HTTP ${res.status}`;
  };
  switch (op) {
    case 'create':
      return async () => {
        const res = await fetch(`${base}/Task`, { method: 'POST', headers: { ...p.headers, Prefer: 'return=minimal' }, body: JSON.stringify(p.task) });
        await res.arrayBuffer();
        const id = /Task\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1];
        if (id) p.created.push(id);
        return res.status === 201 || `HTTP ${res.status}`;
      };
    case 'read':
      return async () => {
        const id = p.created[p.next++ % Math.max(p.created.length, 1)];
        const res = await fetch(`${base}/Task/${id}`, { headers: p.headers });
        await res.arrayBuffer();
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
): Promise<Record<O, OperationResult>[]> {
  const operations: readonly FhirOperation[] = only ?? FHIR_OPERATIONS;
  const prepared = await Promise.all(targets.map(prepare));
  // Reads without creates before them (`BENCH_OPS=read`) read stored Tasks: without ids every read was a 404.
  if (operations.includes('read') && !operations.includes('create')) await Promise.all(prepared.map(storedTaskIds));
  // Each server first serves searches unmeasured for a moment: without it the first operation measured carried the
  // process's start (code still being compiled, the pool's connections opened, each new backend's first plans):
  // the same search measured first cost the gateway 0.2-0.6 ms more than when measured after another (issue 19.1).
  if (WARMUP_SECONDS > 0) for (const p of prepared) await load(concurrency, WARMUP_SECONDS, call(p, 'searchNoTotal'));
  const parts = prepared.map(() => new Map<FhirOperation, { load: LoadResult; cpu: CpuPerUnit; gc?: GcTime }[]>());
  for (const op of operations) {
    for (let s = 0; s < slices; s++) {
      // Each slice starts with another server, so that none always runs right after the same one.
      const order = prepared.map((_, k) => (k + s) % prepared.length);
      for (const k of order) {
        const p = prepared[k] as Prepared;
        const url = p.target.gatewayUrl;
        const gcBefore = url === undefined ? undefined : await gcTime(url);
        const before = cpuSnapshot(p.target.pids, p.target.database);
        const r = await load(concurrency, seconds / slices, call(p, op));
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
  return parts.map((byOp) => {
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
      };
    }
    // Every operation asked for has its result.
    return result as Record<O, OperationResult>;
  });
}
