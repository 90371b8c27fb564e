import type { Bundle, BundleEntry, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { etag, fullUrl } from '../fhir/bundles.ts';
import { businessRule, forbidden, HttpError, isAbsent, notFound, outcome, unprocessable } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { MappedRecord, NativeFormat, NativeRecord } from '../native/types.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import type { OrganizationDirectory } from '../access/organizations.ts';
import { cloneKeepingNumberTexts } from '../fhir/number-text.ts';
import { findByIdentifier, findByIdentifiers, hasIdentifier, resolveReferences } from './references.ts';
import { describeTransition, isFinal, OPEN_STATUSES, pathTo, type TaskStatus, whoMay } from './state-machine.ts';
import { BSN_SYSTEM } from '../fhir/identifier-systems.ts';
import { contentHash, type IngestResult, openLedger, recordInLedger } from './ledger.ts';
import { writeProvenance, type Written } from './ingest-provenance.ts';
import type { IngestTexts } from './ingest-texts.ts';

/**
 * Stores what one native record says, all of it in one transaction: the ledger entry (idempotent
 * re-sends, sequence numbers; ./ledger.ts), the FHIR resources, the handover transitions and their Provenance.
 */
export class NativeIngest {
  private readonly baseUrl: string;
  private readonly orgs: OrganizationDirectory;
  private readonly texts: Record<NativeFormat, IngestTexts>;

  /**
   * `orgs`: the gateway's one Organization ↔ URA directory (src/access/organizations.ts), invalidated on every change.
   * `texts`: each format's paths and reasons (mappings/<format>/ingest.json, ./ingest-texts.ts).
   */
  constructor(baseUrl: string, orgs: OrganizationDirectory, texts: Record<NativeFormat, IngestTexts>) {
    this.baseUrl = baseUrl;
    this.orgs = orgs;
    this.texts = texts;
  }

  async ingest(repo: Repository, format: NativeFormat, record: NativeRecord, mapped: MappedRecord): Promise<IngestResult> {
    const ctx = repo.ctx;
    if (mapped.senderUra !== ctx.organizationUra) {
      throw forbidden(`This record is sent on behalf of URA ${mapped.senderUra}, but the access token is for URA ${ctx.organizationUra}: a system may only send its own organisation's records`);
    }
    const hash = contentHash(record);
    return repo.transaction(async (txRepo) => {
      const tx = txRepo.txHandle();
      const ledger = await openLedger(tx, format, mapped, hash, this.texts[format].paths.sequence);
      if ('done' in ledger) return ledger.done;

      const written: Written[] = [];
      const first = ledger.lastSequence === 0;
      const { location, created } =
        mapped.kind === 'answer' ? await this.applyAnswer(txRepo, mapped, written) : await this.applyRequest(txRepo, mapped, written);
      await writeProvenance(txRepo, this.orgs, format, mapped, written);

      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction-response',
        entry: written.map((w): BundleEntry => ({
          fullUrl: fullUrl(this.baseUrl, w.result.stored),
          response: {
            status: String(w.status),
            location: `${fullUrl(this.baseUrl, w.result.stored)}/_history/${w.result.stored.versionId}`,
            etag: etag(w.result.stored.versionId),
            lastModified: w.result.stored.lastUpdated,
          },
        })),
      };
      const status: 200 | 201 = first && created ? 201 : 200;
      await recordInLedger(tx, format, mapped, hash, { status, location, bundle });
      return { status, location, bundle };
    });
  }

  private async save(repo: Repository, resource: Resource, existing: StoredVersion | undefined, written: Written[]): Promise<StoredVersion> {
    // The mappings set no meta: tags a FHIR client put on the resource stay (security labels the repository keeps itself).
    const tag = resource.meta ? undefined : existing?.content.meta?.tag;
    const result = existing ? await repo.update({ ...resource, id: existing.id, ...(tag && { meta: { tag } }) } as Resource) : await repo.create(resource);
    if (result.changed) written.push({ result, status: result.created ? 201 : 200 });
    return result.stored;
  }

  /** `known`: the current resources of this type found for every identifier of the record at once (see applyRequest). */
  private async upsertByIdentifier<T extends Resource & { identifier?: { system?: string; value?: string }[] }>(
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
    return this.save(repo, resource, existing, written);
  }

  /** The patient of a record: found by BSN (or the record's own patient identifier), merged with what was known. */
  private async upsertPatient(repo: Repository, patient: Patient, written: Written[]): Promise<StoredVersion> {
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
      return this.save(repo, { ...patient, identifier: identifiers }, existing, written);
    }
    return this.save(repo, patient, undefined, written);
  }

  private localMap(mapped: MappedRecord, patient?: StoredVersion, encounter?: StoredVersion, serviceRequest?: StoredVersion): Map<string, string> {
    const map = new Map<string, string>();
    const put = (key: string, v?: StoredVersion): void => {
      const url = mapped.fullUrls[key];
      if (url && v) map.set(url, `${v.resourceType}/${v.id}`);
    };
    put('patient', patient);
    put('encounter', encounter);
    put('serviceRequest', serviceRequest);
    return map;
  }

  private async applyRequest(repo: Repository, mapped: MappedRecord, written: Written[]): Promise<{ location?: string; created: boolean }> {
    const clone = <T>(v: T): T => cloneKeepingNumberTexts(v);
    const patientIn = clone(mapped.patient);
    const encounterIn = mapped.encounter ? clone(mapped.encounter) : undefined;
    const srIn = mapped.serviceRequest ? clone(mapped.serviceRequest) : undefined;
    const taskIn = mapped.task ? clone(mapped.task) : undefined;
    const observationsIn = clone(mapped.observations);
    // Organisations first: an unknown URA refuses the record before anything is written.
    await resolveReferences(repo, [patientIn, encounterIn, srIn, taskIn, ...observationsIn], new Map(), (ura) => this.orgs.byUra(repo, ura));

    const patient = await this.upsertPatient(repo, patientIn, written);
    let local = this.localMap(mapped, patient);
    await resolveReferences(repo, [encounterIn], local, (ura) => this.orgs.byUra(repo, ura));
    const encounter = encounterIn ? await this.upsertByIdentifier(repo, encounterIn, written) : undefined;
    local = this.localMap(mapped, patient, encounter);
    // A record's findings are looked up together: one search instead of one per finding.
    const knownObservations = await findByIdentifiers(repo, 'Observation', observationsIn.flatMap((o) => o.identifier ?? []));
    for (const obs of observationsIn) {
      await resolveReferences(repo, [obs], local, (ura) => this.orgs.byUra(repo, ura));
      // Two findings with one identifier make one Observation, as when each was looked up after the other was written.
      knownObservations.unshift(await this.upsertByIdentifier(repo, obs, written, knownObservations));
    }

    const group = taskIn?.groupIdentifier ?? mapped.task?.groupIdentifier;
    const open = group ? await this.openTasksInGroup(repo, group) : [];
    const receiver = mapped.cancelled ? undefined : mapped.receiver;
    const receiverOrg = receiver ? await this.orgs.byUra(repo, receiver.ura) : undefined;
    if (receiver && !receiverOrg) {
      throw new HttpError(422, outcome('not-found', `No organisation with URA ${receiver.ura} is known to the gateway; nothing was stored`, ['overdracht.naar.ura']));
    }
    const receiverRef = receiverOrg ? `Organization/${receiverOrg.id}` : undefined;

    // Withdrawn or re-addressed: every open handover of this record to another receiver is cancelled.
    for (const task of open) {
      const t = task.content as Task;
      if (receiverRef && t.owner?.reference === receiverRef) continue;
      await this.cancelTask(repo, task, mapped.cancelled?.reason ?? (receiverRef ? this.texts[mapped.format].reasons.readdressed : this.texts[mapped.format].reasons.withdrawn), written);
    }

    let taskStored: StoredVersion | undefined;
    let created = written.some((w) => w.result.created);
    if (receiverRef && taskIn && srIn) {
      const current = open.find((t) => (t.content as Task).owner?.reference === receiverRef);
      const currentSr = current ? await this.focusOf(repo, current.content as Task) : undefined;
      local = this.localMap(mapped, patient, encounter);
      await resolveReferences(repo, [srIn], local, (ura) => this.orgs.byUra(repo, ura));
      const sr = await this.save(repo, currentSr ? mergeServiceRequest(currentSr.content as ServiceRequest, srIn) : srIn, currentSr, written);
      local = this.localMap(mapped, patient, encounter, sr);
      await resolveReferences(repo, [taskIn], local, (ura) => this.orgs.byUra(repo, ura));
      if (current) {
        const stored = current.content as Task;
        // A requester's re-send updates the request's data; the handover's state is the owner's to change.
        const next: Task = { ...taskIn, status: stored.status, businessStatus: stored.businessStatus, statusReason: stored.statusReason, output: stored.output, executionPeriod: stored.executionPeriod, lastModified: new Date().toISOString() };
        taskStored = await this.save(repo, next, current, written);
      } else {
        // authoredOn (required by the profile) is the record's own time where it has one (nts: the contact);
        // ride and VVT requests carry none, and then the Task is authored when the gateway receives it.
        const now = new Date().toISOString();
        taskStored = await this.save(repo, { ...taskIn, status: 'requested', authoredOn: taskIn.authoredOn ?? now, lastModified: now }, undefined, written);
        created = true;
      }
    } else if (mapped.cancelled && open.length === 0 && group) {
      taskStored = undefined;
    }
    const location = taskStored ? fullUrl(this.baseUrl, taskStored) : encounter ? fullUrl(this.baseUrl, encounter) : undefined;
    return { location, created };
  }

  private async openTasksInGroup(repo: Repository, group: { system?: string; value?: string }): Promise<StoredVersion[]> {
    const token = group.system ? `${group.system}|${group.value}` : (group.value ?? '');
    const found = await repo.search({ ...repo.parseSearch('Task', { 'group-identifier': [token], status: [OPEN_STATUSES.join(',')] }), count: 100, total: 'none' });
    // A group is the sender's own (src/handover/workflow.ts): a Task of another requester with the same value is not in it.
    const tx = repo.txHandle();
    const mine: StoredVersion[] = [];
    for (const t of found.resources) if ((await this.orgs.uraOf(tx, (t.content as Task).requester)) === repo.ctx.organizationUra) mine.push(t);
    return mine;
  }

  private async focusOf(repo: Repository, task: Task): Promise<StoredVersion | undefined> {
    const m = /^ServiceRequest\/(.+)$/.exec(task.focus?.reference ?? '');
    if (!m) return undefined;
    try {
      return await repo.read('ServiceRequest', m[1]);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  }

  private async cancelTask(repo: Repository, task: StoredVersion, reason: string, written: Written[]): Promise<void> {
    const t = task.content as Task;
    const from = t.status as TaskStatus;
    if (whoMay(from, 'cancelled') !== 'requester') {
      throw businessRule(`The handover Task/${task.id} is ${from}: the requester can no longer cancel it (only while requested, received, on-hold or accepted)`);
    }
    await this.save(repo, { ...t, status: 'cancelled', statusReason: { text: reason }, lastModified: new Date().toISOString() }, task, written);
    const sr = await this.focusOf(repo, t);
    if (sr) await this.save(repo, { ...(sr.content as ServiceRequest), status: 'revoked' }, sr, written);
  }

  private async applyAnswer(repo: Repository, mapped: MappedRecord, written: Written[]): Promise<{ location?: string; created: boolean }> {
    const handoverId = mapped.handoverId ?? mapped.recordId;
    let task: StoredVersion;
    try {
      task = await repo.read('Task', handoverId);
    } catch (err) {
      // Only a handover that is not there (for this sender) is unknown: a database fault is passed on (503).
      if (!isAbsent(err)) throw err;
      throw notFound(`No handover with id ${handoverId} is known`, [this.texts[mapped.format].paths.handoverId]);
    }
    const t = task.content as Task;
    const ownerUra = await this.orgs.uraOf(repo.txHandle(), t.owner);
    const requesterUra = await this.orgs.uraOf(repo.txHandle(), t.requester);
    if (ownerUra !== repo.ctx.organizationUra) {
      if (requesterUra === repo.ctx.organizationUra) throw forbidden(`Only the receiving organisation of handover ${handoverId} may answer it`);
      throw notFound(`No handover with id ${handoverId} is known`, [this.texts[mapped.format].paths.handoverId]);
    }
    const patientRef = t.for?.reference;
    await this.checkSamePatient(repo, patientRef, mapped.patient);

    const local = new Map<string, string>();
    if (mapped.fullUrls.patient && patientRef) local.set(mapped.fullUrls.patient, patientRef);
    if (mapped.fullUrls.serviceRequest && t.focus?.reference) local.set(mapped.fullUrls.serviceRequest, t.focus.reference);
    if (mapped.fullUrls.task) local.set(mapped.fullUrls.task, `Task/${task.id}`);

    // The receiver's own encounter (the ride, the visit) and its findings.
    let encounter: StoredVersion | undefined;
    if (mapped.encounter) {
      const enc = cloneKeepingNumberTexts(mapped.encounter);
      await resolveReferences(repo, [enc], local, (ura) => this.orgs.byUra(repo, ura));
      // The receiver's encounter carries out the handover's request: that is how the handover finds it again.
      if (t.focus?.reference && !enc.basedOn?.some((b) => b.reference === t.focus?.reference)) {
        enc.basedOn = [...(enc.basedOn ?? []), { reference: t.focus.reference }];
      }
      encounter = await this.upsertByIdentifier(repo, enc, written);
      if (mapped.fullUrls.encounter) local.set(mapped.fullUrls.encounter, `Encounter/${encounter.id}`);
    }
    for (const o of mapped.observations) {
      const obs = cloneKeepingNumberTexts(o);
      await resolveReferences(repo, [obs], local, (ura) => this.orgs.byUra(repo, ura));
      await this.upsertByIdentifier(repo, obs, written);
    }
    const sr = await this.focusOf(repo, t);
    // The receiver's own reference (the ride number) comes as transition.reference: answers map no ServiceRequest of their own.
    const references = [...(mapped.serviceRequest?.identifier ?? []), ...(mapped.transition?.reference ? [mapped.transition.reference] : [])];
    if (sr && references.length) {
      const current = sr.content as ServiceRequest;
      const identifiers = [...(current.identifier ?? [])];
      for (const i of references) if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
      await this.save(repo, { ...current, identifier: identifiers }, sr, written);
    }

    await this.transitionTask(repo, task, mapped, written);
    return { location: fullUrl(this.baseUrl, task), created: false };
  }

  private async checkSamePatient(repo: Repository, patientRef: string | undefined, incoming: Patient): Promise<void> {
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
  private async transitionTask(repo: Repository, task: StoredVersion, mapped: MappedRecord, written: Written[]): Promise<void> {
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
      await this.save(repo, { ...t, ...details, lastModified: new Date().toISOString() }, task, written);
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
      current = await this.save(repo, next, current, written);
    }
  }
}

function mergeServiceRequest(stored: ServiceRequest, incoming: ServiceRequest): ServiceRequest {
  const identifiers = [...(stored.identifier ?? [])];
  for (const i of incoming.identifier ?? []) if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
  return { ...incoming, identifier: identifiers };
}
