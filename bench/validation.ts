// Validations per second of a handover Task through the full validator (R4 base + profile).
// Run: node bench/validation.ts   (Node 24 from node_modules/.bin)
import { join } from 'node:path';
import { loadProfileValidator } from '../src/fhir/validation/index.ts';
import { validTask } from '../test/fhir/validation-fixtures.ts';
import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

const profilesDir = join(import.meta.dirname, '..', 'profiles');
const t0 = performance.now();
const validator = loadProfileValidator(profilesDir);
console.log(`load (definitions + ${validator.profiles.length} profiles compiled): ${(performance.now() - t0).toFixed(0)} ms`);

/** Best of several short rounds, alternating the contenders: the machine is shared, so the best round is the least disturbed. */
function microseconds(validate: () => unknown, seconds: number): number {
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) validate();
    n += 100;
  }
  return ((performance.now() - started) * 1000) / n;
}

function report(label: string, us: number): void {
  console.log(`${label}: ${Math.round(1e6 / us).toLocaleString('en')} validations/s (${us.toFixed(1)} µs each)`);
}

function bench(label: string, resource: Resource, rounds = 8): void {
  if (validator.validate(resource).length) throw new Error(`${label}: fixture is not valid`);
  const full = () => validator.validate(resource);
  // Medplum's base R4 validation alone, to show what the compiled profile checks add to it.
  const base = () => validateResource(resource);
  microseconds(full, 0.3);
  microseconds(base, 0.3);
  let bestFull = Infinity;
  let bestBase = Infinity;
  for (let r = 0; r < rounds; r++) {
    bestFull = Math.min(bestFull, microseconds(full, 0.4));
    bestBase = Math.min(bestBase, microseconds(base, 0.4));
  }
  report(`${label}, full validator`, bestFull);
  report(`${label}, Medplum base R4 only`, bestBase);
  console.log(`${label}: the compiled profile checks add about ${(bestFull - bestBase).toFixed(1)} µs`);
}

bench('handover Task', validTask());
bench('rejected handover Task (invariant path)', { ...validTask(), status: 'rejected', statusReason: { text: 'Geen capaciteit' } });
