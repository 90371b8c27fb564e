// Validations per second of a handover Task through the full validator (R4 base + profile), and the R4 base walk
// alone beside Medplum's `validateResource`, which it replaced on the write path (src/fhir/validation/base-validation.ts).
// Also the memory each allocates per call (V8's sampling heap profiler, counting what was collected too): what the
// collector then has to clear, which on the loaded gateway costs more than the walk itself.
// Run: node bench/validation.ts   (Node 24 from node_modules/.bin)
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { validateBase } from '../src/fhir/validation/base-validation.ts';
import { loadProfileValidator } from '../src/fhir/validation/index.ts';
import { validEncounter, validPatient, validServiceRequest, validTask } from '../test/fhir/validation-fixtures.ts';

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
    ['R4 base walk alone', () => resources.forEach((r) => validateBase(r))],
    ["Medplum's validateResource (before)", () => resources.forEach((r) => medplum(r))],
  ];
  for (const [, run] of contenders) microseconds(run, 0.3);
  const best = contenders.map(() => Infinity);
  for (let r = 0; r < rounds; r++) contenders.forEach(([, run], i) => (best[i] = Math.min(best[i], microseconds(run, 0.4))));
  contenders.forEach(([name], i) => report(`${label}, ${name}`, best[i]));
  console.log(`${label}: base walk / Medplum ${(best[1] / best[2]).toFixed(2)}; the compiled profile checks add about ${(best[0] - best[1]).toFixed(1)} µs`);
  const kb: string[] = [];
  for (const [name, run] of contenders) kb.push(`${name} ${(await allocatedKb(run)).toFixed(1)} KB`);
  console.log(`${label}, allocated per call: ${kb.join(', ')}`);
}

await bench('handover Task', [validTask()]);
await bench('rejected handover Task (invariant path)', [{ ...validTask(), status: 'rejected', statusReason: { text: 'Geen capaciteit' } }]);
await bench('Task, ServiceRequest, Patient, Encounter', [validTask(), validServiceRequest(), validPatient(), validEncounter()]);
