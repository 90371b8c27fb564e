import type { Composition, DocumentReference, Encounter, Observation, Organization, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { isAbsent, notFound } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { HandoverView, Perspective } from '../native/types.ts';
import { uraOfOrganization } from '../access/organizations.ts';
import { readOrganizationOf, readReference } from './references.ts';

function party(org: Organization | undefined): HandoverView['requester'] {
  return { ura: uraOfOrganization(org) ?? '', name: org?.name, kind: org?.type?.[0]?.coding?.[0]?.code };
}

/**
 * Everything a rendered record of handover `taskId` may draw on, and whose view the caller has. With
 * `taskVersion` the Task is taken at that version (a notification tells the state of its event); the
 * resources around it are their current versions.
 */
export async function loadHandoverView(repo: Repository, taskId: string, taskVersion?: string): Promise<{ view: HandoverView; perspective: Perspective; version: number }> {
  let task: Task;
  let version: number;
  try {
    const stored = taskVersion === undefined ? await repo.read('Task', taskId) : await repo.vread('Task', taskId, taskVersion);
    task = stored.content as Task;
    version = Number(stored.versionId);
  } catch (err) {
    if (isAbsent(err)) throw notFound(`No handover with id ${taskId} is known`);
    throw err;
  }
  const [requesterOrg, ownerOrg] = await Promise.all([readReference<Organization>(repo, task.requester?.reference), readOrganizationOf(repo, task.owner?.reference)]);
  const requester = party(requesterOrg);
  const owner = party(ownerOrg);
  const ura = repo.ctx.organizationUra;
  const perspective: Perspective | undefined = ura === owner.ura ? 'receiver' : ura === requester.ura ? 'requester' : undefined;
  // Someone not party to the handover learns nothing, not even that it exists.
  if (!perspective) throw notFound(`No handover with id ${taskId} is known`);

  const serviceRequest = await readReference<ServiceRequest>(repo, task.focus?.reference);
  const patient = await readReference<Patient>(repo, task.for?.reference);
  const encounters: Encounter[] = [];
  const own = await readReference<Encounter>(repo, task.encounter?.reference);
  if (own) encounters.push(own);
  const observations: Observation[] = [];
  // The requester's findings (the triage's ABCD check, criteria, pain score) belong to its own encounter.
  if (own?.id) {
    const obs = await repo.search({ ...repo.parseSearch('Observation', { encounter: [`Encounter/${own.id}`] }), count: 100, total: 'none' });
    observations.push(...obs.resources.map((o) => o.content as Observation));
  }
  if (task.focus?.reference) {
    const receiverEncounters = await repo.search({ ...repo.parseSearch('Encounter', { 'based-on': [task.focus.reference] }), count: 10, total: 'none' });
    for (const e of receiverEncounters.resources) {
      encounters.push(e.content as Encounter);
      const obs = await repo.search({ ...repo.parseSearch('Observation', { encounter: [`Encounter/${e.id}`] }), count: 100, total: 'none' });
      observations.push(...obs.resources.map((o) => o.content as Observation));
    }
  }
  // A stable order, so that the same handover always renders the same record.
  const key = (o: Observation): string => `${o.identifier?.[0]?.value ?? ''}|${o.id ?? ''}`;
  observations.sort((a, b) => key(a).localeCompare(key(b)));
  // The letter and attachments an AZ-IG referral's request carries (issue 17), for the formats that render them.
  const letters: Composition[] = [];
  const documents: DocumentReference[] = [];
  for (const info of serviceRequest?.supportingInfo ?? []) {
    const ref = info.reference ?? '';
    if (ref.startsWith('Composition/')) {
      const c = await readReference<Composition>(repo, ref);
      if (c) letters.push(c);
    } else if (ref.startsWith('DocumentReference/')) {
      const d = await readReference<DocumentReference>(repo, ref);
      if (d) documents.push(d);
    }
  }
  return { view: { task, serviceRequest, encounters, patient, observations, letters, documents, requester, owner }, perspective, version };
}
