// How a native record's resources are written: each saved as a new version only when it changed (what changed is
// listed in `written`, for the response and the Provenance), matched to what is known by identifier or BSN.
import type { Patient, Resource, Task } from '@medplum/fhirtypes';
import { isAbsent } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { BSN_SYSTEM } from '../fhir/identifier-systems.ts';
import { findByIdentifier, hasIdentifier } from './references.ts';
import type { Written } from './ingest-provenance.ts';

export async function save(repo: Repository, resource: Resource, existing: StoredVersion | undefined, written: Written[]): Promise<StoredVersion> {
  // The mappings set no meta: tags a FHIR client put on the resource stay (security labels the repository keeps itself).
  const tag = resource.meta ? undefined : existing?.content.meta?.tag;
  const result = existing ? await repo.update({ ...resource, id: existing.id, ...(tag && { meta: { tag } }) } as Resource) : await repo.create(resource);
  if (result.changed) written.push({ result, status: result.created ? 201 : 200 });
  return result.stored;
}

/** `known`: the current resources of this type found for every identifier of the record at once (see applyRequest in ./ingest.ts). */
export async function upsertByIdentifier<T extends Resource & { identifier?: { system?: string; value?: string }[] }>(
  repo: Repository,
  resource: T,
  written: Written[],
  known?: readonly StoredVersion[],
): Promise<StoredVersion> {
  let existing: StoredVersion | undefined;
  for (const identifier of resource.identifier ?? []) {
    existing = known ? known.find((k) => identifier.value && hasIdentifier(k, identifier)) : await findByIdentifier(repo, resource.resourceType, identifier);
    // What the sender may read but not change (the ZCC reads the region) is not its to update: it gets its own.
    if (existing && !repo.mayChange(existing)) existing = undefined;
    if (existing) break;
  }
  return save(repo, resource, existing, written);
}

/** The patient of a record: found by BSN (or the record's own patient identifier), merged with what was known. */
export async function upsertPatient(repo: Repository, patient: Patient, written: Written[]): Promise<StoredVersion> {
  const bsn = patient.identifier?.find((i) => i.system === BSN_SYSTEM);
  const candidates = bsn ? [bsn] : (patient.identifier ?? []);
  let existing: StoredVersion | undefined;
  for (const identifier of candidates) {
    // Matched among the patients the sender may change (those of its own handovers): a BSN alone never opens another
    // organisation's patient record. An unknown BSN makes a Patient of the sender's own, shared from then on with its handovers.
    existing = await findByIdentifier(repo, 'Patient', identifier);
    if (existing && !repo.mayChange(existing)) existing = undefined;
    if (existing) break;
  }
  if (existing) {
    const known = (existing.content as Patient).identifier ?? [];
    const identifiers = [...known];
    for (const i of patient.identifier ?? []) {
      if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
    }
    return save(repo, { ...patient, identifier: identifiers }, existing, written);
  }
  return save(repo, patient, undefined, written);
}

export async function focusOf(repo: Repository, task: Task): Promise<StoredVersion | undefined> {
  const m = /^ServiceRequest\/(.+)$/.exec(task.focus?.reference ?? '');
  if (!m) return undefined;
  try {
    return await repo.read('ServiceRequest', m[1]);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}
