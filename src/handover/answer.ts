// An answer to a handover (the receiver's record): checked to be the receiver's and about the same patient, its
// encounter and findings written, and the Task moved through every step to the status the answer asks for.
import type { Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { fullUrl } from '../fhir/bundles.ts';
import { businessRule, forbidden, isAbsent, notFound, unprocessable } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { MappedRecord, NativeFormat } from '../native/types.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import type { OrganizationDirectory } from '../access/organizations.ts';
import { BSN_SYSTEM } from '../fhir/identifier-systems.ts';
import { describeTransition, isFinal, pathTo, type TaskStatus, whoMay } from './state-machine.ts';
import type { Written } from './ingest-provenance.ts';
import type { IngestTexts } from './ingest-texts.ts';
import { focusOf, save, writeVisit } from './record-writes.ts';
import { isInvitation } from './selection.ts';
import { withholdAnswer } from './withheld-answer.ts';

export interface AnswerDeps {
  baseUrl: string;
  orgs: OrganizationDirectory;
  texts: Record<NativeFormat, IngestTexts>;
}

export async function applyAnswer(repo: Repository, deps: AnswerDeps, mapped: MappedRecord, written: Written[]): Promise<{ location?: string; created: boolean }> {
  const handoverId = mapped.handoverId ?? mapped.recordId;
  let task: StoredVersion;
  try {
    task = await repo.read('Task', handoverId);
  } catch (err) {
    // Only a handover that is not there (for this sender) is unknown: a database fault is passed on (503).
    if (!isAbsent(err)) throw err;
    throw notFound(`No handover with id ${handoverId} is known`, [deps.texts[mapped.format].paths.handoverId]);
  }
  const t = task.content as Task;
  const ownerUra = await deps.orgs.uraOf(repo.openTransaction(), t.owner);
  const requesterUra = await deps.orgs.uraOf(repo.openTransaction(), t.requester);
  if (ownerUra !== repo.ctx.organizationUra) {
    if (requesterUra === repo.ctx.organizationUra) throw forbidden(`Only the receiving organisation of handover ${handoverId} may answer it`);
    throw notFound(`No handover with id ${handoverId} is known`, [deps.texts[mapped.format].paths.handoverId]);
  }
  const sr = await focusOf(repo, t);
  const patientRef = t.for?.reference;
  await checkSamePatient(repo, patientRef, mapped.patient);
  // A Twiin invitation names no patient (`for`) until the placer selects, and its candidate may not see the patient:
  // its answer (accepted, refused) moves the Task now; its visit record and findings wait for the selection
  // (withheld-answer.ts), which writes them in its own transaction.
  if (patientRef === undefined && isInvitation(t)) {
    if (mapped.encounter || mapped.observations.length) await withholdAnswer(repo.txHandle(), task.id, mapped);
  } else {
    await writeVisit(repo, deps.orgs, mapped, t, task.id, written);
  }
  // The receiver's own reference (the ride number) comes as transition.reference: answers map no ServiceRequest of their own.
  const references = [...(mapped.serviceRequest?.identifier ?? []), ...(mapped.transition?.reference ? [mapped.transition.reference] : [])];
  if (sr && references.length) {
    const current = sr.content as ServiceRequest;
    const identifiers = [...(current.identifier ?? [])];
    for (const i of references) if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
    await save(repo, { ...current, identifier: identifiers }, sr, written);
  }

  await transitionTask(repo, task, mapped, written);
  return { location: fullUrl(deps.baseUrl, task), created: false };
}

async function checkSamePatient(repo: Repository, patientRef: string | undefined, incoming: Patient): Promise<void> {
  const m = /^Patient\/(.+)$/.exec(patientRef ?? '');
  if (!m) return;
  const stored = (await repo.read('Patient', m[1])).content as Patient;
  const bsnOf = (p: Patient): string | undefined => p.identifier?.find((i) => i.system === BSN_SYSTEM)?.value;
  const a = bsnOf(stored);
  const b = bsnOf(incoming);
  if (a && b) {
    if (a !== b) throw unprocessable('The answer names another patient (BSN) than the handover: refused, a handover confused between two patients is dangerous', ['patient.bsn']);
    return;
  }
  if (stored.birthDate && incoming.birthDate && stored.birthDate !== incoming.birthDate) {
    throw unprocessable('The answer names another patient (birth date) than the handover: refused, a handover confused between two patients is dangerous', ['patient.geboortedatum']);
  }
}

/** Applies the transition an answer asks for, through every implied step (each its own Task version). */
async function transitionTask(repo: Repository, task: StoredVersion, mapped: MappedRecord, written: Written[]): Promise<void> {
  const t = task.content as Task;
  const from = t.status as TaskStatus;
  let target = (mapped.transition?.status ?? from) as TaskStatus;
  // GEANNULEERD by the receiver: refused before acceptance, failed after. A refusal (GEWEIGERD, AFGEWEZEN)
  // after acceptance is no cancel: it stays `rejected`, which an accepted Task cannot become (422).
  if (target === 'rejected' && mapped.transition?.failsIfAccepted && (from === 'accepted' || from === 'in-progress')) target = 'failed';
  const incoming = mapped.task ?? ({} as Partial<Task>);
  const details: Partial<Task> = {
    businessStatus: mapped.transition?.businessStatus ? { text: mapped.transition.businessStatus, coding: incoming.businessStatus?.coding } : t.businessStatus,
    statusReason: mapped.transition?.statusReason ? { text: mapped.transition.statusReason } : t.statusReason,
    executionPeriod: incoming.executionPeriod ?? t.executionPeriod,
    output: incoming.output ?? t.output,
  };
  if (target === from || (target === 'requested' && (from === 'requested' || from === 'received'))) {
    await save(repo, { ...t, ...details, lastModified: new Date().toISOString() }, task, written);
    return;
  }
  if (isFinal(from)) throw businessRule(describeTransition(from, target));
  const steps = pathTo(from, target);
  if (!steps || steps.some((s, i) => whoMay(i === 0 ? from : steps[i - 1], s) !== 'owner')) throw businessRule(describeTransition(from, target));
  let current = task;
  for (const [i, step] of steps.entries()) {
    const last = i === steps.length - 1;
    const base = current.content as Task;
    const next: Task = { ...base, status: step, lastModified: new Date().toISOString(), ...(last ? details : {}) };
    current = await save(repo, next, current, written);
  }
}
