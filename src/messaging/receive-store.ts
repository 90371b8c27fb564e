// Storing a received message: its resources (organisations matched, not copied; the patient matched by BSN), the
// handover Task, the MessageHeader and their Provenance, and the map the ledger keeps to render it again.
import type { Bundle, Organization, Patient, Provenance, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { OrganizationDirectory } from '../access/organizations.ts';
import type { Repository } from '../fhir/repository.ts';
import { findByIdentifier } from '../handover/references.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import type { MessageEntry, ParsedMessage } from './message.ts';
import { err422, focusOf } from './receive-check.ts';
import { destination, directoryOrg } from './receive-parties.ts';

const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';
/** The Task of a handover that came as a message names it: system per sender URA, value the message id. */
const MESSAGE_ID_SYSTEM = 'https://handover-gateway.nl/fhir/NamingSystem/az-ig-message';
const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';

/** What the ledger keeps to render the message again: the Bundle's own elements and, per entry, its fullUrl → the stored `Type/id`. */
export interface StoredMap {
  /**
   * The message carried no urgency and the gateway assumed the highest (README): the rendered message leaves it out
   * again. Kept here, not on the ServiceRequest, where every reader (the board, the native renderings) takes the
   * priority for what it is.
   */
  derivedPriority?: boolean;
  timestamp?: string;
  identifier?: Bundle['identifier'];
  entries: { fullUrl: string; reference: string }[];
}

/** Stores every resource of the message (organisations matched, not copied), then the handover Task, then the MessageHeader. */
export async function storeMessage(orgs: OrganizationDirectory, repo: Repository, message: ParsedMessage, messageId: string): Promise<{ taskId: string; stored: StoredMap }> {
  const sr = focusOf(message);
  const receiver = await destination(orgs, repo, message, sr);
  const refs = new Map<MessageEntry, string>();
  for (const org of message.ofType<Organization>('Organization')) refs.set(org, `Organization/${(await directoryOrg(orgs, repo, org, `Bundle.entry[${org.index}].resource.identifier`)).id}`);
  const requesterUra = repo.ctx.organizationUra;
  const requesterOrg = await orgs.byUra(repo, requesterUra);
  if (!requesterOrg) throw err422(`Your organisation (URA ${requesterUra}) is not in the gateway's directory`, 'Bundle.entry[0].resource.sender', 'not-found');

  // Referred to before referring: each resource is written once, with its references already stored ones.
  const order = ['Patient', 'Practitioner', 'PractitionerRole', 'Composition', 'DocumentReference', 'ServiceRequest'];
  const rest = message.entries.filter((e) => e.resource.resourceType !== 'MessageHeader' && e.resource.resourceType !== 'Organization');
  const unknown = rest.find((e) => !order.includes(e.resource.resourceType));
  if (unknown) throw err422(`A ${unknown.resource.resourceType} has no place in the AMB-naar-HAP message`, `Bundle.entry[${unknown.index}].resource`, 'invalid');
  rest.sort((a, b) => order.indexOf(a.resource.resourceType) - order.indexOf(b.resource.resourceType));
  const written: StoredVersion[] = [];
  for (const entry of rest) {
    const resource = prepare(message, entry, refs);
    const stored = entry.resource.resourceType === 'Patient' ? await upsertPatient(repo, resource as Patient) : (await repo.create(resource)).stored;
    refs.set(entry, `${stored.resourceType}/${stored.id}`);
    written.push(stored);
  }
  const srRef = refs.get(sr) ?? '';
  const srStored = sr.resource;
  const patientRef = refs.get(message.targetOf(sr, srStored.subject?.reference) as MessageEntry) ?? '';
  const now = new Date().toISOString();
  const task: Task = {
    resourceType: 'Task',
    identifier: [{ system: `${MESSAGE_ID_SYSTEM}/${requesterUra}`, value: messageId }],
    status: 'requested',
    intent: 'order',
    priority: priorityOf(srStored),
    code: { coding: [{ system: TASK_CODE_SYSTEM, code: 'fulfill' }] },
    focus: { reference: srRef },
    for: { reference: patientRef },
    authoredOn: srStored.authoredOn ?? now,
    lastModified: now,
    requester: { reference: `Organization/${requesterOrg.id}` },
    owner: { reference: `Organization/${receiver.id}` },
    description: srStored.reasonCode?.[0]?.text,
  };
  const taskStored = (await repo.create(task)).stored;
  // After the Task: the MessageHeader's focus (the request) then already holds both parties.
  const headerEntry = message.entries[0];
  const headerStored = (await repo.create(prepare(message, headerEntry, refs))).stored;
  refs.set(headerEntry, `MessageHeader/${headerStored.id}`);
  written.push(taskStored, headerStored);
  await writeProvenance(repo, written, requesterOrg, messageId);
  const entries = message.entries.map((e) => ({ fullUrl: e.fullUrl, reference: refs.get(e) ?? '' }));
  const derivedPriority = !sr.resource.priority;
  return { taskId: taskStored.id, stored: { ...(derivedPriority ? { derivedPriority } : {}), timestamp: message.bundle.timestamp, identifier: message.bundle.identifier, entries } };
}

/** As native ingest does: what the message made, by whom, from which message (the handover's trail and timeline show it). */
async function writeProvenance(repo: Repository, written: StoredVersion[], sender: StoredVersion, messageId: string): Promise<void> {
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: written.map((v) => ({ reference: `${v.resourceType}/${v.id}/_history/${v.versionId}` })),
    recorded: new Date().toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: { reference: `Organization/${sender.id}`, display: (sender.content as Organization).name },
      },
    ],
    entity: [{ role: 'source', what: { identifier: { system: `${MESSAGE_ID_SYSTEM}/${repo.ctx.organizationUra}`, value: messageId }, display: `AZ-IG AMB-naar-HAP message ${messageId}` } }],
  };
  // Provenance is the gateway's (clients cannot write it): written with the gateway's authority, for the sender.
  await repo.asGateway().create(provenance);
}

/** The sender's priority when it gave one; otherwise the most urgent, marked as derived (never weaker than meant). */
function priorityOf(sr: ServiceRequest): Task['priority'] {
  return sr.priority ?? 'stat';
}

/** A copy of the entry's resource to store: no id or meta of the sender's, references to stored resources, urgency derived. */
function prepare(message: ParsedMessage, entry: MessageEntry, refs: Map<MessageEntry, string>): Resource {
  const copy = structuredClone(entry.resource) as Resource & { meta?: unknown };
  delete copy.id;
  delete copy.meta;
  rewrite(copy, (reference) => {
    const target = message.targetOf(entry, reference);
    return target ? refs.get(target) : undefined;
  });
  // The IG's ServiceRequest has no urgency; the gateway's handover needs one and assumes the highest (README).
  if (copy.resourceType === 'ServiceRequest' && !copy.priority) copy.priority = 'stat';
  return copy;
}

/** The message's patient: the sender's own one with that BSN when it has one (as native ingest), else a new one. */
async function upsertPatient(repo: Repository, patient: Patient): Promise<StoredVersion> {
  const bsn = patient.identifier?.find((i) => i.system === BSN_SYSTEM);
  const existing = bsn ? await findByIdentifier(repo, 'Patient', bsn) : undefined;
  if (existing && repo.mayChange(existing)) {
    const known = (existing.content as Patient).identifier ?? [];
    const identifiers = [...known, ...(patient.identifier ?? []).filter((i) => !known.some((k) => k.system === i.system && k.value === i.value))];
    return (await repo.update({ ...patient, id: existing.id, identifier: identifiers })).stored;
  }
  return (await repo.create(patient)).stored;
}

function rewrite(value: unknown, resolve: (reference: string) => string | undefined): void {
  if (Array.isArray(value)) {
    for (const v of value) rewrite(v, resolve);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.reference === 'string' && !obj.reference.startsWith('#')) {
      const stored = resolve(obj.reference);
      if (stored) obj.reference = stored;
    }
    for (const [k, v] of Object.entries(obj)) if (k !== 'reference') rewrite(v, resolve);
  }
}
