// Validations per second of a handover Task through the full validator (R4 base + profile).
// Run: node bench/validation.ts   (Node 24 from node_modules/.bin)
import { join } from 'node:path';
import { loadProfileValidator } from '../src/fhir/validation/index.ts';
import { validTask } from '../test/fhir/validation-fixtures.ts';
import type { Resource } from '@medplum/fhirtypes';

const profilesDir = join(import.meta.dirname, '..', 'profiles');
let t0 = performance.now();
const validator = loadProfileValidator(profilesDir);
console.log(`load (definitions + ${validator.profiles.length} profiles compiled): ${(performance.now() - t0).toFixed(0)} ms`);

function measure(label: string, resource: Resource, seconds = 2): void {
  if (validator.validate(resource).length) throw new Error(`${label}: fixture is not valid`);
  for (let i = 0; i < 2000; i++) validator.validate(resource);
  let n = 0;
  t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) validator.validate(resource);
    n += 200;
  }
  const perSecond = n / ((performance.now() - t0) / 1000);
  console.log(`${label}: ${Math.round(perSecond).toLocaleString('en')} validations/s (${(1e6 / perSecond).toFixed(1)} µs each)`);
}

measure('handover Task', validTask());
const rejected = { ...validTask(), status: 'rejected' as const, statusReason: { text: 'Geen capaciteit' } };
measure('handover Task (rejected, with reason)', rejected);
