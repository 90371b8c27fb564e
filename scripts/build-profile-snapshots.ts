// Regenerates the snapshot of every StructureDefinition in profiles/ from its differential, so
// the committed files always carry both and nobody edits a snapshot by hand.
// Run: PATH=node_modules/.bin:$PATH node scripts/build-profile-snapshots.ts [profilesDir]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { baseDefinitions } from '../src/fhir/validation/definitions.ts';
import { withSnapshot } from '../src/fhir/validation/snapshot.ts';

const dir = process.argv[2] ?? join(import.meta.dirname, '..', 'profiles');
const base = baseDefinitions();

for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const path = join(dir, file);
  const resource = JSON.parse(readFileSync(path, 'utf8')) as StructureDefinition;
  if (resource.resourceType !== 'StructureDefinition') continue;
  const updated = withSnapshot(resource, (url) => base.structureDefinition(url));
  writeFileSync(path, JSON.stringify(updated, null, 2) + '\n');
  console.log(`${file}: ${updated.snapshot?.element?.length ?? 0} snapshot elements`);
}
