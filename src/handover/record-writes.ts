// How a native record's resources are written: each saved as a new version only when it changed (what changed is
// listed in `written`, for the response and the Provenance), matched to what is known by identifier or BSN.
import type { Patient, Resource, Task } from '@medplum/fhirtypes';
import { isAbsent } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { BSN_SYSTEM } from '../fhir/identifier-systems.ts';
import { hasIdentifier, lookupIn, resolveReferences, type IdentifierLookup } from './references.ts';
import type { Written } from './ingest-provenance.ts';
import type { OrganizationDirectory } from '../access/organizations.ts';
import type { MappedRecord } from '../native/types.ts';
import { cloneKeepingNumberTexts } from '../fhir/number-text.ts';

/**
 * Current versions a record's transaction locked ahead in one statement (Repository.lockCurrent), by `Type/id`: each
 * is handed to the first update of its row, and forgotten then (what that update writes is the row's version after it).
 */
export type LockedAhead = Map<string, StoredVersion>;

export async function save(repo: Repository, resource: Resource, existing: StoredVersion | undefined, written: Written[], lockedAhead?: LockedAhead): Promise<StoredVersion> {
  // The mappings set no meta: tags a FHIR client put on the resource stay (security labels the repository keeps itself).
  const tag = resource.meta ? undefined : existing?.content.meta?.tag;
  const key = existing && `${existing.resourceType}/${existing.id}`;
  const locked = key ? lockedAhead?.get(key) : undefined;
  if (key) lockedAhead?.delete(key);
  const result = existing ? await repo.update({ ...resource, id: existing.id, ...(tag && { meta: { tag } }) } as Resource, { locked }) : await repo.create(resource);
  if (result.changed) written.push({ result, status: result.created ? 201 : 200 });
  return result.stored;
}

/** `known`: the current resources of this type found for every identifier of the record at once (see applyRequest in ./ingest.ts). */
export async function upsertByIdentifier<T extends Resource & { identifier?: { system?: string; value?: string }[] }>(
  repo: Repository,
  resource: T,
  written: Written[],
  known?: readonly StoredVersion[],
  find: IdentifierLookup = lookupIn(repo),
  lockedAhead?: LockedAhead,
): Promise<StoredVersion> {
  let existing: StoredVersion | undefined;
  for (const identifier of resource.identifier ?? []) {
    existing = known ? known.find((k) => identifier.value && hasIdentifier(k, identifier)) : await find(resource.resourceType, identifier);
    // What the sender may read but not change (the ZCC reads the region) is not its to update: it gets its own.
    if (existing && !repo.mayChange(existing)) existing = undefined;
    if (existing) break;
  }
  return save(repo, resource, existing, written, lockedAhead);
}

/** The patient of a record: found by BSN (or the record's own patient identifier), merged with what was known. */
export async function upsertPatient(
  repo: Repository,
  patient: Patient,
  written: Written[],
  find: IdentifierLookup = lookupIn(repo),
  lockedAhead?: LockedAhead,
): Promise<StoredVersion> {
  const candidates = patientMatchIdentifiers(patient);
  let existing: StoredVersion | undefined;
  for (const identifier of candidates) {
    // Matched among the patients the sender may change (those of its own handovers): a BSN alone never opens another
    // organisation's patient record. An unknown BSN makes a Patient of the sender's own, shared from then on with its handovers.
    existing = await find('Patient', identifier);
    if (existing && !repo.mayChange(existing)) existing = undefined;
    if (existing) break;
  }
  if (existing) {
    const known = (existing.content as Patient).identifier ?? [];
    const identifiers = [...known];
    for (const i of patient.identifier ?? []) {
      if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
    }
    return save(repo, { ...patient, identifier: identifiers }, existing, written, lockedAhead);
  }
  return save(repo, patient, undefined, written);
}

/** The identifiers a record's patient is matched by, in order: its BSN, or else each identifier it carries. */
export function patientMatchIdentifiers(patient: Patient): { system?: string; value?: string }[] {
  const bsn = patient.identifier?.find((i) => i.system === BSN_SYSTEM);
  return bsn ? [bsn] : (patient.identifier ?? []);
}

/** The id of the ServiceRequest a Task is about (`focus`), if it names one. */
export function focusId(task: Task): string | undefined {
  return /^ServiceRequest\/(.+)$/.exec(task.focus?.reference ?? '')?.[1];
}

/**
 * The ServiceRequest a Task is about, as the caller reads it (one it may read, not deleted), or undefined. `lockedAhead`:
 * the rows this transaction locked ahead, where it is taken from when it is there (no second read).
 */
export async function focusOf(repo: Repository, task: Task, lockedAhead?: LockedAhead): Promise<StoredVersion | undefined> {
  const id = focusId(task);
  if (id === undefined) return undefined;
  const locked = lockedAhead?.get(`ServiceRequest/${id}`);
  if (locked) return repo.mayRead(locked) && !locked.deleted ? locked : undefined;
  try {
    return await repo.read('ServiceRequest', id);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}

/** The receiver's own encounter (the ride, the visit) and its findings, about the handover's patient and request. */
export async function writeVisit(repo: Repository, orgs: OrganizationDirectory, mapped: MappedRecord, t: Task, taskId: string, written: Written[]): Promise<void> {
  const patientRef = t.for?.reference;
  const local = new Map<string, string>();
  if (mapped.fullUrls.patient && patientRef) local.set(mapped.fullUrls.patient, patientRef);
  if (mapped.fullUrls.serviceRequest && t.focus?.reference) local.set(mapped.fullUrls.serviceRequest, t.focus.reference);
  if (mapped.fullUrls.task) local.set(mapped.fullUrls.task, `Task/${taskId}`);
  if (mapped.encounter) {
    const enc = cloneKeepingNumberTexts(mapped.encounter);
    await resolveReferences(repo, [enc], local, (ura) => orgs.byUra(repo, ura));
    // The receiver's encounter carries out the handover's request: that is how the handover finds it again.
    if (t.focus?.reference && !enc.basedOn?.some((b) => b.reference === t.focus?.reference)) {
      enc.basedOn = [...(enc.basedOn ?? []), { reference: t.focus.reference }];
    }
    const encounter = await upsertByIdentifier(repo, enc, written);
    if (mapped.fullUrls.encounter) local.set(mapped.fullUrls.encounter, `Encounter/${encounter.id}`);
  }
  for (const o of mapped.observations) {
    const obs = cloneKeepingNumberTexts(o);
    await resolveReferences(repo, [obs], local, (ura) => orgs.byUra(repo, ura));
    await upsertByIdentifier(repo, obs, written);
  }
}
