// Validations per second of a handover Task through the full validator (R4 base + profile), and the R4 base validation
// alone (`validateBase`: the shortcut generated per type, src/fhir/validation/base-accept.ts, where it answers; the walk
// where it does not), the walk alone (`walkedIssues`) and Medplum's `validateResource`, which the walk replaced on the
// write path (src/fhir/validation/base-validation.ts).
// Also the memory each allocates per call (V8's sampling heap profiler, counting what was collected too): what the
// collector then has to clear, which on the loaded gateway costs more than the walk itself.
// The eight resources the mapper makes of a native NTS handover (the gateway adds a Provenance) are validated as one
// handover; BENCH_BASELINE=/path/to/other/checkout (with its node_modules) also validates them with that checkout's
// validator, in alternating rounds of one process, both orders: CPU µs and KB allocated per handover for each.
// Run: node bench/validation.ts   (Node 24 from node_modules/.bin)
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { validateBase, walkedIssues } from '../src/fhir/validation/base-validation.ts';
import { loadProfileValidator } from '../src/fhir/validation/index.ts';
import { loadNativeMapper } from '../src/native/mapping/index.ts';
import { validEncounter, validPatient, validServiceRequest, validTask } from '../test/fhir/validation-fixtures.ts';
import { MAPPINGS_DIR, example, formatOf, storeRequest } from '../test/native/mapping-support.ts';

const profilesDir = join(import.meta.dirname, '..', 'profiles');
const t0 = performance.now();
const validator = loadProfileValidator(profilesDir);
console.log(`load (definitions + ${validator.profiles.length} profiles compiled): ${(performance.now() - t0).toFixed(0)} ms`);

/**
 * CPU time of this thread per call, over a short round: the machine is shared, and CPU time is not counted while
 * another process runs, as wall time is. The best of several alternating rounds is the least disturbed.
 */
function microseconds(validate: () => unknown, seconds: number): number {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const cpu = process.threadCpuUsage();
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) validate();
    n += 100;
  }
  const used = process.threadCpuUsage(cpu);
  return (used.user + used.system) / n;
}

function report(label: string, us: number): void {
  console.log(`${label}: ${Math.round(1e6 / us).toLocaleString('en')} validations/s (${us.toFixed(1)} µs CPU each)`);
}

/** Medplum's validation as the write path called it: an error throws. */
function medplum(resource: Resource): void {
  try {
    validateResource(resource);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
  }
}

/** KB allocated per call, from a sampling heap profile of `n` calls that keeps what was collected during them. */
async function allocatedKb(run: () => void, n = 2000): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < n; i++) run();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const sum = (node: { selfSize: number; children: unknown[] }): number => node.selfSize + node.children.reduce<number>((t, c) => t + sum(c as typeof node), 0);
    return sum(profile.head) / n / 1024;
  } finally {
    session.disconnect();
  }
}

async function bench(label: string, resources: Resource[], rounds = 8): Promise<void> {
  for (const r of resources) if (validator.validate(r).length) throw new Error(`${label}: fixture is not valid`);
  const contenders: [string, () => void][] = [
    ['full validator', () => resources.forEach((r) => validator.validate(r))],
    ['R4 base alone', () => resources.forEach((r) => validateBase(r))],
    ['R4 base walk alone (no shortcut)', () => resources.forEach((r) => walkedIssues(r))],
    ["Medplum's validateResource (before)", () => resources.forEach((r) => medplum(r))],
  ];
  for (const [, run] of contenders) microseconds(run, 0.3);
  const best = contenders.map(() => Infinity);
  for (let r = 0; r < rounds; r++) contenders.forEach(([, run], i) => (best[i] = Math.min(best[i], microseconds(run, 0.4))));
  contenders.forEach(([name], i) => report(`${label}, ${name}`, best[i]));
  console.log(`${label}: base / walk ${(best[1] / best[2]).toFixed(2)}, walk / Medplum ${(best[2] / best[3]).toFixed(2)}; the compiled profile checks add about ${(best[0] - best[1]).toFixed(1)} µs`);
  const kb: string[] = [];
  for (const [name, run] of contenders) kb.push(`${name} ${(await allocatedKb(run)).toFixed(1)} KB`);
  console.log(`${label}, allocated per call: ${kb.join(', ')}`);
}

await bench('handover Task', [validTask()]);
await bench('rejected handover Task (invariant path)', [{ ...validTask(), status: 'rejected', statusReason: { text: 'Geen capaciteit' } }]);
await bench('Task, ServiceRequest, Patient, Encounter', [validTask(), validServiceRequest(), validPatient(), validEncounter()]);

/** A native NTS handover's resources as the mapper makes them, references made literal as the store makes them. */
function handoverResources(): Resource[] {
  const name = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
  const view = storeRequest(loadNativeMapper(MAPPINGS_DIR).toFhir(formatOf(name), example(name)), 'HAP');
  return [view.patient, ...view.encounters, ...view.observations, view.serviceRequest, view.task].filter((r): r is NonNullable<typeof r> => r !== undefined);
}

const handover = handoverResources();
await bench(`native handover (${handover.length} resources)`, handover, 4);

const baselineRoot = process.env.BENCH_BASELINE;
if (baselineRoot) {
  // The other checkout's validator by absolute path: its own modules, on the same resources, in the same process.
  const { loadProfileValidator: loadBaseline } = (await import(join(baselineRoot, 'src/fhir/validation/index.ts'))) as typeof import('../src/fhir/validation/index.ts');
  const baseline = loadBaseline(join(baselineRoot, 'profiles'));
  for (const r of handover) if (baseline.validate(r).length) throw new Error('baseline: fixture is not valid');
  const runs: [string, () => void][] = [
    ['this checkout', () => handover.forEach((r) => validator.validate(r))],
    [`baseline ${baselineRoot}`, () => handover.forEach((r) => baseline.validate(r))],
  ];
  for (const [, run] of runs) microseconds(run, 0.5);
  const us: number[][] = [[], []];
  const rounds = Number(process.env.BENCH_ROUNDS ?? 12);
  // Alternating rounds, the order reversed every other round: neither side always runs first after the other.
  for (let r = 0; r < rounds; r++) for (const i of r % 2 ? [1, 0] : [0, 1]) us[i]?.push(microseconds(runs[i]?.[1] as () => void, 0.4));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  const ratios = (us[0] as number[]).map((u, i) => u / (us[1] as number[])[i]!);
  for (const [i, [name, run]] of runs.entries()) {
    console.log(`native handover, ${name}: ${median(us[i] as number[]).toFixed(1)} µs CPU (median of ${rounds} rounds), ${(await allocatedKb(run, 1000)).toFixed(1)} KB allocated`);
  }
  console.log(`native handover, this checkout / baseline per round: median ${median(ratios).toFixed(3)} [${ratios.map((x) => x.toFixed(2)).join(' ')}]`);
}
