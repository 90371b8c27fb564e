import type { Bundle, BundleEntry, Encounter, Identifier, Observation, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { etag, fullUrl } from '../fhir/bundles.ts';
import { businessRule, forbidden, HttpError, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { MappedRecord, NativeFormat, NativeRecord } from '../native/types.ts';
import type { LookupCondition, StoredVersion } from '../store/resource-store.ts';
import type { OrganizationDirectory } from '../access/organizations.ts';
import { cloneKeepingNumberTexts } from '../fhir/number-text.ts';
import { GROUP_LOOKUP_LIMIT, openTasksLookup, prefetchIdentifiers, resolveReferences, type IdentifierLookup } from './references.ts';
import { OPEN_STATUSES, type TaskStatus, whoMay } from './state-machine.ts';
import { aboveLedgerHead, contentHash, type IngestResult, openLedger, readLedgerHead, recordInLedger } from './ledger.ts';
import { writeProvenance, type Written } from './ingest-provenance.ts';
import type { IngestTexts } from './ingest-texts.ts';
import { applyAnswer } from './answer.ts';
import { focusId, focusOf, type LockedAhead, patientMatchIdentifiers, save, upsertByIdentifier, upsertPatient } from './record-writes.ts';
import { aheadPlan } from './ingest-parties.ts';
import { knowGroup, sharedAhead } from '../access/parties.ts';
import { candidateGroup } from './candidate-group.ts';

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
    // A request's group of candidates is its Task's groupIdentifier (nts: the contact); its lock's name is read off that alone.
    const group = mapped.kind === 'request' ? mapped.task?.groupIdentifier : undefined;
    const groupTask = group ? ({ resourceType: 'Task', groupIdentifier: group } as Task) : undefined;
    return repo.transaction(async (txRepo) => {
      const tx = txRepo.txHandle();
      // The group's lock first, with the ledger's statement (it goes ahead of it, in its round trip): so the group's
      // open Tasks, looked up with the record's identities, are all there are until this transaction commits
      // (knowGroup), and the lock comes before every row lock, as every writer of a group takes it.
      if (groupTask) await txRepo.takeLocks(groupTask);
      const head = readLedgerHead(tx, format, mapped);
      // A request's identity lookups carry the ledger's statement, in one round trip. They find something only when
      // the ledger will let the ingest go on (aboveLedgerHead): a re-send, answered from the ledger, reads none of their rows.
      const found = mapped.kind === 'request' ? await lookUp(txRepo, mapped, group, aboveLedgerHead) : undefined;
      const ledger = await openLedger(tx, head, format, mapped, hash, this.texts[format].paths.sequence);
      if ('done' in ledger) return ledger.done;
      // A record the ledger lets on is above its head, and its lookups found what there is; not so only if the row of
      // the head's own sequence is missing (retention keeps it; sequences count from 1): they then run again, unconditioned.
      const lookedUp = found && mapped.sequence <= ledger.lastSequence ? await lookUp(txRepo, mapped, group) : found;

      const written: Written[] = [];
      const first = ledger.lastSequence === 0;
      const { location, created } = lookedUp ? await this.applyRequest(txRepo, mapped, lookedUp, written) : await applyAnswer(txRepo, { baseUrl: this.baseUrl, orgs: this.orgs, texts: this.texts }, mapped, written);
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
      recordInLedger(txRepo.txState(), format, mapped, hash, { status, location, bundle });
      return { status, location, bundle };
    });
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

  private async applyRequest(repo: Repository, mapped: MappedRecord, found: LookedUp, written: Written[]): Promise<{ location?: string; created: boolean }> {
    const { patientIn, encounterIn, srIn, taskIn, observationsIn, group, find, knownObservations, groupTasks, known } = found;
    // Organisations first: an unknown URA refuses the record before anything is written.
    await resolveReferences(repo, [patientIn, encounterIn, srIn, taskIn, ...observationsIn], new Map(), (ura) => this.orgs.byUra(repo, ura));

    // The receiver is given what its Task will reach as each is written, not by rewriting every row when the Task is.
    const plan = aheadPlan(mapped);
    const state = repo.txState();
    const ahead = (reached: boolean | undefined): string[] => (reached ? plan.uras : []);
    // Complete under the group's lock (taken first, in `ingest`), unless the lookup's limit cut it short.
    const token = group && taskIn ? candidateGroup(taskIn)?.token : undefined;
    if (token && groupTasks.length < GROUP_LOOKUP_LIMIT) knowGroup(state, token, groupTasks);
    const open = group ? await this.senderOwn(repo, groupTasks) : [];
    const receiver = mapped.cancelled ? undefined : mapped.receiver;
    const receiverOrg = receiver ? await this.orgs.byUra(repo, receiver.ura) : undefined;
    if (receiver && !receiverOrg) {
      throw new HttpError(422, outcome('not-found', `No organisation with URA ${receiver.ura} is known to the gateway; nothing was stored`, ['overdracht.naar.ura']));
    }
    const receiverRef = receiverOrg ? `Organization/${receiverOrg.id}` : undefined;
    // The open handover this record goes on with: its Task to the same receiver (the others are cancelled below).
    const stays = (t: StoredVersion): boolean => receiverRef !== undefined && (t.content as Task).owner?.reference === receiverRef;
    const current = receiverRef && taskIn && srIn ? open.find(stays) : undefined;
    // What of these the record may update, locked in one statement instead of one per update (a re-sent record updates
    // its patient, encounter and findings; a record's next sequence its Task and that Task's request too). They are
    // written before any Task of the record, whose write would spread parties to them, so each is still as locked when
    // it is saved; what is found and not updated stays locked, as nothing else this transaction locks waits for them.
    // The Task and its request only when no other Task is cancelled first (a cancelled Task spreads parties to the other
    // candidates and their requests); the Task's lock name, its group's, was taken first, before any row lock.
    const lockedAhead: LockedAhead = new Map();
    const changeable: { resourceType: string; id: string }[] = known.filter((v) => repo.mayChange(v));
    const currentSrId = current && open.every(stays) && repo.mayChange(current) ? focusId(current.content as Task) : undefined;
    if (current && currentSrId !== undefined) changeable.push(current, { resourceType: 'ServiceRequest', id: currentSrId });
    for (const v of changeable.length > 0 ? await repo.lockCurrent(changeable) : []) lockedAhead.set(`${v.resourceType}/${v.id}`, v);
    const patient = await sharedAhead(state, ahead(plan.patient), () => upsertPatient(repo, patientIn, written, find, lockedAhead));
    let local = this.localMap(mapped, patient);
    await resolveReferences(repo, [encounterIn], local, (ura) => this.orgs.byUra(repo, ura));
    const encounter = encounterIn ? await sharedAhead(state, ahead(plan.encounter), () => upsertByIdentifier(repo, encounterIn, written, undefined, find, lockedAhead)) : undefined;
    local = this.localMap(mapped, patient, encounter);
    for (const [i, obs] of observationsIn.entries()) {
      await resolveReferences(repo, [obs], local, (ura) => this.orgs.byUra(repo, ura));
      // Two findings with one identifier make one Observation, as when each was looked up after the other was written.
      knownObservations.unshift(await sharedAhead(state, ahead(plan.observations[i]), () => upsertByIdentifier(repo, obs, written, knownObservations, undefined, lockedAhead)));
    }

    // Withdrawn or re-addressed: every open handover of this record to another receiver is cancelled.
    for (const task of open) {
      if (stays(task)) continue;
      await this.cancelTask(repo, task, mapped.cancelled?.reason ?? (receiverRef ? this.texts[mapped.format].reasons.readdressed : this.texts[mapped.format].reasons.withdrawn), written);
    }

    let taskStored: StoredVersion | undefined;
    let created = written.some((w) => w.result.created);
    if (receiverRef && taskIn && srIn) {
      const currentSr = current ? await focusOf(repo, current.content as Task, lockedAhead) : undefined;
      local = this.localMap(mapped, patient, encounter);
      await resolveReferences(repo, [srIn], local, (ura) => this.orgs.byUra(repo, ura));
      const sr = await sharedAhead(state, ahead(plan.serviceRequest), () => save(repo, currentSr ? mergeServiceRequest(currentSr.content as ServiceRequest, srIn) : srIn, currentSr, written, lockedAhead));
      local = this.localMap(mapped, patient, encounter, sr);
      await resolveReferences(repo, [taskIn], local, (ura) => this.orgs.byUra(repo, ura));
      if (current) {
        const stored = current.content as Task;
        // A requester's re-send updates the request's data; the handover's state is the owner's to change.
        const next: Task = { ...taskIn, status: stored.status, businessStatus: stored.businessStatus, statusReason: stored.statusReason, output: stored.output, executionPeriod: stored.executionPeriod, lastModified: new Date().toISOString() };
        taskStored = await save(repo, next, current, written, lockedAhead);
      } else {
        // authoredOn (required by the profile) is the record's own time where it has one (nts: the contact);
        // ride and VVT requests carry none, and then the Task is authored when the gateway receives it.
        const now = new Date().toISOString();
        taskStored = await save(repo, { ...taskIn, status: 'requested', authoredOn: taskIn.authoredOn ?? now, lastModified: now }, undefined, written);
        created = true;
      }
    } else if (mapped.cancelled && open.length === 0 && group) {
      taskStored = undefined;
    }
    const location = taskStored ? fullUrl(this.baseUrl, taskStored) : encounter ? fullUrl(this.baseUrl, encounter) : undefined;
    return { location, created };
  }

  /** The open Tasks of the record's group (`openTasksLookup`) that are the sender's own. */
  private async senderOwn(repo: Repository, found: readonly StoredVersion[]): Promise<StoredVersion[]> {
    // A group is the sender's own (src/handover/workflow.ts): a Task of another requester with the same value is not in it.
    const open = repo.openTransaction();
    const mine: StoredVersion[] = [];
    for (const t of found) if ((await this.orgs.uraOf(open, (t.content as Task).requester)) === repo.ctx.organizationUra) mine.push(t);
    return mine;
  }

  private async cancelTask(repo: Repository, task: StoredVersion, reason: string, written: Written[]): Promise<void> {
    const t = task.content as Task;
    const from = t.status as TaskStatus;
    if (whoMay(from, 'cancelled') !== 'requester') {
      throw businessRule(`The handover Task/${task.id} is ${from}: the requester can no longer cancel it (only while requested, received, on-hold or accepted)`);
    }
    await save(repo, { ...t, status: 'cancelled', statusReason: { text: reason }, lastModified: new Date().toISOString() }, task, written);
    const sr = await focusOf(repo, t);
    if (sr) await save(repo, { ...(sr.content as ServiceRequest), status: 'revoked' }, sr, written);
  }
}

/** What a request record's identity lookups found (`lookUp`), with the copies of its resources to be written. */
interface LookedUp {
  patientIn: Patient;
  encounterIn: Encounter | undefined;
  srIn: ServiceRequest | undefined;
  taskIn: Task | undefined;
  observationsIn: Observation[];
  group: Identifier | undefined;
  find: IdentifierLookup;
  knownObservations: StoredVersion[];
  /** The open Tasks of the record's group. */
  groupTasks: StoredVersion[];
  /** The patient, encounter and findings found: what the record may update. */
  known: StoredVersion[];
}

/**
 * The identity lookups of the patient, the encounter and the findings in one statement, each answered as its own
 * search would be (nothing this record writes before them is of their types). A record's findings are looked up
 * together: one search instead of one per finding. The open Tasks of the record's group go in the same statement:
 * nothing written before them is a Task (this record's Task, and the cancellations, come after them, as before), and
 * read after the findings they were a round trip of their own that also sent the findings' writes.
 */
async function lookUp(repo: Repository, mapped: MappedRecord, group: Identifier | undefined, onlyIf?: LookupCondition): Promise<LookedUp> {
  const clone = <T>(v: T): T => cloneKeepingNumberTexts(v);
  const patientIn = clone(mapped.patient);
  const encounterIn = mapped.encounter ? clone(mapped.encounter) : undefined;
  const srIn = mapped.serviceRequest ? clone(mapped.serviceRequest) : undefined;
  const taskIn = mapped.task ? clone(mapped.task) : undefined;
  const observationsIn = clone(mapped.observations);
  const {
    find,
    together: knownObservations,
    also: [groupTasks = []],
    known,
  } = await prefetchIdentifiers(
    repo,
    [...patientMatchIdentifiers(patientIn).map((identifier) => ({ type: 'Patient', identifier })), ...(encounterIn?.identifier ?? []).map((identifier) => ({ type: 'Encounter', identifier }))],
    { type: 'Observation', identifiers: observationsIn.flatMap((o) => o.identifier ?? []) },
    group ? [openTasksLookup(group, OPEN_STATUSES)] : [],
    onlyIf,
  );
  return { patientIn, encounterIn, srIn, taskIn, observationsIn, group, find, knownObservations, groupTasks, known };
}

function mergeServiceRequest(stored: ServiceRequest, incoming: ServiceRequest): ServiceRequest {
  const identifiers = [...(stored.identifier ?? [])];
  for (const i of incoming.identifier ?? []) if (!identifiers.some((k) => k.system === i.system && k.value === i.value)) identifiers.push(i);
  return { ...incoming, identifier: identifiers };
}
