// A handover as an AZ-IG AMB-naar-HAP message, for a receiver that speaks the IG: the message as it came (when it came
// as one), or made from the handover's own resources (a native `ambulance` overdracht to a HAP).
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Composition, CompositionSection, Encounter, MessageHeader, Observation, Organization, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { notFound } from '../fhir/outcomes.ts';
import { readOrganizationOf, readReference } from '../handover/references.ts';
import type { Repository } from '../fhir/repository.ts';
import type { Queryable } from '../store/database.ts';
import type { StoredMap } from './receive-store.ts';
import type { MessageRules } from './rules.ts';

const SCT = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';

const GATEWAY_SD = 'https://handover-gateway.nl/fhir/StructureDefinition';
const WORKING_DIAGNOSIS = 'werkdiagnose';

function escapeXhtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One of the letter's sections (the IG's slices: code and narrative, text.status additional). */
function section(title: string, system: string, code: string, display: string, text: string): CompositionSection {
  return { title, code: { coding: [{ system, code, display }] }, text: { status: 'additional', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXhtml(text)}</div>` } };
}

function extensionText(resource: { extension?: { url?: string; valueString?: string }[] } | undefined, name: string): string | undefined {
  return resource?.extension?.find((e) => e.url === `${GATEWAY_SD}/${name}`)?.valueString;
}

/** A finding as a line of text: its name and value, whatever the value's type. */
function findingText(o: Observation): string {
  const name = o.code.text ?? o.code.coding?.[0]?.display ?? o.code.coding?.[0]?.code ?? 'Bevinding';
  const value = (x: Pick<Observation, 'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'valueInteger' | 'valueBoolean'>): string | undefined =>
    x.valueQuantity ? `${x.valueQuantity.value ?? ''} ${x.valueQuantity.unit ?? x.valueQuantity.code ?? ''}`.trim()
    : x.valueString ?? x.valueCodeableConcept?.text ?? x.valueCodeableConcept?.coding?.[0]?.display ?? x.valueCodeableConcept?.coding?.[0]?.code
    ?? (x.valueInteger !== undefined ? String(x.valueInteger) : x.valueBoolean !== undefined ? (x.valueBoolean ? 'ja' : 'nee') : undefined);
  const parts = (o.component ?? []).map((c) => `${c.code.coding?.[0]?.display ?? c.code.coding?.[0]?.code ?? ''} ${value(c) ?? ''}`.trim());
  return `${name}: ${[value(o), ...parts].filter((x) => x).join(', ')}`;
}

/** The server's meta goes; the IG profile of the type is declared (the sender TestScript asks every entry for one). */
function asSent(resource: Resource, rules: MessageRules): Resource {
  const { meta: _meta, ...rest } = resource as Resource & { meta?: unknown };
  const profile = rules.profiles[resource.resourceType];
  return { ...(profile ? { meta: { profile: [profile] } } : {}), ...rest } as Resource;
}

/** A priority the gateway assumed (the message carried none) is not the sender's: it is left out again. */
function withoutPriority(sr: ServiceRequest): ServiceRequest {
  const { priority: _p, ...rest } = sr;
  return rest;
}

export class MessageRenderer {
  private readonly baseUrl: string;
  private readonly rules: MessageRules;
  private readonly db: Queryable;

  constructor(baseUrl: string, rules: MessageRules, db: Queryable) {
    this.baseUrl = baseUrl;
    this.rules = rules;
    this.db = db;
  }

  /** The message of handover `taskId`, read through `repo` (what its reader may read, nothing more). */
  async render(repo: Repository, taskId: string): Promise<Bundle> {
    const task = await readReference<Task>(repo, `Task/${taskId}`);
    if (!task) throw notFound(`No handover with id ${taskId} is known`);
    const row = await this.db.query<{ stored: StoredMap }>('SELECT stored FROM az_messages WHERE task_id = $1', [taskId]);
    const stored = row.rows[0]?.stored;
    return stored ? this.asReceived(repo, stored) : this.fromHandover(repo, task);
  }

  private entry(resource: Resource): BundleEntry {
    return { fullUrl: `${this.baseUrl}/${resource.resourceType}/${resource.id}`, resource: asSent(resource, this.rules) };
  }

  /** The message as it was received: every entry read back, in the sender's order, with its stored id as fullUrl. */
  private async asReceived(repo: Repository, stored: StoredMap): Promise<Bundle> {
    const entries: BundleEntry[] = [];
    for (const e of stored.entries) {
      const resource = await readReference<Resource>(repo, e.reference);
      if (!resource) throw notFound(`${e.reference} of the message is not readable`);
      entries.push(this.entry(resource.resourceType === 'ServiceRequest' && stored.derivedPriority ? withoutPriority(resource as ServiceRequest) : resource));
    }
    return this.bundle(entries, stored.timestamp, stored.identifier);
  }

  private bundle(entry: BundleEntry[], timestamp = new Date().toISOString(), identifier?: Bundle['identifier']): Bundle {
    const profile = this.rules.profiles.Bundle;
    return { resourceType: 'Bundle', id: randomUUID(), ...(profile ? { meta: { profile: [profile] } } : {}), ...(identifier ? { identifier } : {}), type: 'message', timestamp, entry };
  }

  /**
   * A handover that did not come as a message (a native `ambulance` record's overdracht to a HAP): the message made
   * from its request, patient and organisations. The reason for referral is the request's reason, else the Task's
   * description, else the request's code; the letter carries it as its one required section.
   */
  private async fromHandover(repo: Repository, task: Task): Promise<Bundle> {
    const sr = await readReference<ServiceRequest>(repo, task.focus?.reference);
    const patient = await readReference<Patient>(repo, task.for?.reference);
    const requester = await readReference<Organization>(repo, task.requester?.reference);
    const owner = await readOrganizationOf(repo, task.owner?.reference);
    if (!sr || !patient || !requester || !owner) throw notFound(`Handover ${task.id} lacks its request, patient or organisations`);
    const orgRef = (o: Organization) => ({ reference: `Organization/${o.id}`, type: 'Organization' as const, display: o.name });
    const reason =
      sr.reasonCode?.map((r) => r.text ?? r.coding?.[0]?.display).find((t) => t) ??
      sr.note?.map((n) => n.text).find((t) => t) ??
      task.description ??
      sr.code?.text ??
      sr.code?.coding?.[0]?.display ??
      'Overdracht van ambulance naar huisartsenpost';
    // The ride (the requester's encounter): its treatment and agreements, and its findings, become the letter's other sections.
    const ride = await readReference<Encounter>(repo, task.encounter?.reference);
    const findings = ride?.id
      ? (await repo.search({ ...repo.parseSearch('Observation', { encounter: [`Encounter/${ride.id}`] }), count: 100, total: 'none' })).resources.map((r) => r.content as Observation)
      : [];
    const isDiagnosis = (o: Observation) => o.code.coding?.some((c) => c.code === WORKING_DIAGNOSIS) === true;
    const diagnosis = findings.filter(isDiagnosis).map((o) => o.valueString).filter((x): x is string => Boolean(x));
    const other = findings.filter((o) => !isDiagnosis(o)).sort((a, b) => (a.identifier?.[0]?.value ?? '').localeCompare(b.identifier?.[0]?.value ?? ''));
    const treatment = extensionText(ride, 'treatment');
    const agreements = extensionText(ride, 'agreements') ?? sr.patientInstruction;
    const authored = sr.authoredOn ?? task.authoredOn ?? new Date().toISOString();
    const composition: Composition = {
      resourceType: 'Composition',
      id: randomUUID(),
      status: 'final',
      type: { coding: [{ system: LOINC, code: '18761-7', display: 'Samenvatting van overdracht [bevinding] in {instelling} d.m.v. {rol} (document)' }] },
      subject: { reference: `Patient/${patient.id}`, type: 'Patient' },
      date: authored,
      author: [orgRef(requester)],
      title: 'Ambulanceverwijzing naar huisartsenpost',
      section: [
        section('Reden van verwijzing', SCT, '440378000', 'verwijzing voor (waarneembare entiteit)', reason),
        ...(treatment ? [section('Ingestelde behandeling', LOINC, '18776-5', 'Behandelplan [bevinding] in {instelling} d.m.v. {rol} (document)', treatment)] : []),
        ...(diagnosis.length ? [section('Diagnose/conclusie', LOINC, '55110-1', 'Conclusies [interpretatie] (document)', diagnosis.join('; '))] : []),
        ...(agreements ? [section('Afspraken met patiënt', LOINC, '69730-0', 'Instructions', agreements)] : []),
        // Not one of the IG's slices (its slicing is open): the ride's findings, so that none is dropped.
        ...(other.length ? [section('Bevindingen', LOINC, '29545-1', 'Physical findings', other.map(findingText).join('\n'))] : []),
      ],
    };
    const statusOf = (s: ServiceRequest['status']): ServiceRequest['status'] => (s === 'revoked' || s === 'completed' ? s : 'active');
    const request: ServiceRequest = {
      resourceType: 'ServiceRequest',
      id: sr.id,
      // The gateway's urgency is kept: the IG's ServiceRequest does not forbid priority, and a receiver must not lose it.
      ...(sr.priority ? { priority: sr.priority } : {}),
      status: statusOf(sr.status),
      intent: 'order',
      category: [{ coding: [{ system: SCT, code: '308292007', display: 'overdracht van zorg (verrichting)' }] }],
      code: { coding: [{ system: SCT, code: '11131000146102', display: 'overdracht van zorg vanuit ambulance' }] },
      subject: { reference: `Patient/${patient.id}`, type: 'Patient' },
      authoredOn: authored,
      requester: orgRef(requester),
      performer: [orgRef(owner)],
      reasonCode: [{ text: reason }],
      supportingInfo: [{ reference: `Composition/${composition.id}`, type: 'Composition' }],
      ...(agreements ? { patientInstruction: agreements } : {}),
      ...(sr.identifier ? { identifier: sr.identifier } : {}),
    };
    const header: MessageHeader = {
      resourceType: 'MessageHeader',
      id: randomUUID(),
      eventCoding: this.rules.event,
      focus: [{ reference: `ServiceRequest/${sr.id}`, type: 'ServiceRequest' }],
      sender: orgRef(requester),
      source: { endpoint: this.baseUrl, name: 'Handover gateway' },
      destination: [{ endpoint: this.baseUrl, receiver: orgRef(owner) }],
    };
    const entries = [header, request, composition, patient, requester, owner].map((r) => this.entry(r));
    return this.bundle(entries);
  }
}
