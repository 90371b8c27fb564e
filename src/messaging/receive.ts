// Receiving an AZ-IG AMB-naar-HAP message: checked whole, stored whole in one transaction, with a handover Task.
import { createHash, randomUUID } from 'node:crypto';
import type { Attachment, Bundle, Composition, DocumentReference, MessageHeader, Organization, Patient, PractitionerRole, Provenance, Reference, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { uraOfOrganization, type OrganizationDirectory } from '../access/organizations.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { forbidden, HttpError, outcome, outcomeOf, unprocessable } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import { findByIdentifier } from '../handover/references.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { parseMessage, type MessageEntry, type ParsedMessage } from './message.ts';
import type { MessageRules } from './rules.ts';

const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';
/** The Task of a handover that came as a message names it: system per sender URA, value the message id. */
const MESSAGE_ID_SYSTEM = 'https://handover-gateway.nl/fhir/NamingSystem/az-ig-message';
const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';

export interface ReceiveResult {
  /** 200 for a message processed now or before (a re-send gets the first answer). */
  status: 200;
  response: Bundle;
  taskId: string;
  resent: boolean;
}

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

function canonicalHash(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(sort(value))).digest('hex');
}

/** Bundle.identifier (system|value) when the sender gave one, else the MessageHeader's id (FHIR messaging). */
function messageIdOf(message: ParsedMessage): string {
  const identifier = message.bundle.identifier;
  if (identifier?.value) return identifier.system ? `${identifier.system}|${identifier.value}` : identifier.value;
  if (message.header.id) return message.header.id;
  throw unprocessable('A message needs an id: Bundle.identifier or MessageHeader.id (re-sends are recognised by it)', ['MessageHeader.id']);
}

function err422(diagnostics: string, element: string, code: 'business-rule' | 'not-found' | 'invalid' | 'required' = 'business-rule'): HttpError {
  return new HttpError(422, outcome(code, diagnostics, [element]));
}

export class MessageReceiver {
  private readonly baseUrl: string;
  private readonly orgs: OrganizationDirectory;
  private readonly rules: MessageRules;

  constructor(baseUrl: string, orgs: OrganizationDirectory, rules: MessageRules) {
    this.baseUrl = baseUrl;
    this.orgs = orgs;
    this.rules = rules;
  }

  /** Checks what needs no database: the IG's rules, references, the letter's patient, the attachment. */
  check(body: unknown): ParsedMessage {
    const bundle = body as Bundle | undefined;
    if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw new HttpError(400, outcome('invalid', 'A message is a Bundle of type message', ['Bundle']));
    const issues = this.rules.check(bundle);
    if (issues.length > 0) throw new HttpError(422, outcomeOf(issues));
    const message = parseMessage(bundle);
    const sr = this.focus(message);
    const patient = message.targetOf(sr, sr.resource.subject?.reference);
    if (patient?.resource.resourceType !== 'Patient') throw err422('ServiceRequest.subject must be the Patient of the message', `Bundle.entry[${sr.index}].resource.subject`, 'required');
    for (const c of message.ofType<Composition>('Composition')) {
      // The letter is about the referral's patient: a letter about nobody, or about someone else, is refused.
      if (message.targetOf(c, c.resource.subject?.reference) !== patient) {
        throw err422('The letter (Composition) must be about the patient of the referral (ServiceRequest.subject)', `Bundle.entry[${c.index}].resource.subject`, 'required');
      }
    }
    for (const d of message.ofType<DocumentReference>('DocumentReference')) {
      d.resource.content.forEach((c, i) => this.checkAttachment(c.attachment, `Bundle.entry[${d.index}].resource.content[${i}].attachment`));
    }
    return message;
  }

  private focus(message: ParsedMessage): MessageEntry & { resource: ServiceRequest } {
    const headerEntry = message.entries[0];
    const target = message.targetOf(headerEntry, message.header.focus?.[0]?.reference);
    if (target?.resource.resourceType !== 'ServiceRequest') throw err422('MessageHeader.focus must be the referral ServiceRequest of the message', 'Bundle.entry[0].resource.focus', 'required');
    return target as MessageEntry & { resource: ServiceRequest };
  }

  private checkAttachment(attachment: Attachment, element: string): void {
    const { maxBytes, contentTypes } = this.rules.attachment;
    const type = (attachment.contentType ?? '').split(';')[0].trim().toLowerCase();
    const magic = contentTypes[type];
    if (magic === undefined) {
      throw err422(`The attachment's contentType ${attachment.contentType ?? '(none)'} is not accepted; accepted: ${Object.keys(contentTypes).join(', ')}`, `${element}.contentType`, 'invalid');
    }
    const data = attachment.data ?? '';
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw err422('The attachment data is not base64', `${element}.data`, 'invalid');
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > maxBytes) {
      throw new HttpError(413, outcome('too-costly', `The attachment is ${bytes.length} bytes; at most ${maxBytes} are accepted`, [`${element}.data`]));
    }
    if (!bytes.subarray(0, magic.length).equals(Buffer.from(magic, 'latin1'))) throw err422(`The attachment's bytes are not ${type}`, `${element}.data`, 'invalid');
    if (attachment.size !== undefined && attachment.size !== bytes.length) throw err422(`Attachment.size says ${attachment.size}, the data is ${bytes.length} bytes`, `${element}.size`, 'invalid');
    if (attachment.hash !== undefined && attachment.hash !== createHash('sha1').update(bytes).digest('base64')) throw err422('Attachment.hash is not the SHA-1 of the data', `${element}.hash`, 'invalid');
  }

  /** The organisation an entry stands for, by URA, in the gateway's directory; refused when it has none there. */
  private async directoryOrg(repo: Repository, entry: MessageEntry, element: string): Promise<StoredVersion> {
    const ura = uraOfOrganization(entry.resource);
    if (!ura) throw err422(`The Organization ${entry.fullUrl} carries no URA (${URA_SYSTEM}): the gateway knows organisations by URA`, element, 'required');
    const org = await this.orgs.byUra(repo, ura);
    if (!org) throw err422(`No organisation with URA ${ura} is known to the gateway; nothing was stored`, element, 'not-found');
    return org;
  }

  /** The receiving organisation: destination.receiver, else the endpoint in the directory, else the referral's performer; all that are given must agree. */
  private async destination(repo: Repository, message: ParsedMessage, sr: MessageEntry & { resource: ServiceRequest }): Promise<StoredVersion> {
    const header = message.entries[0];
    const found: { org: StoredVersion; element: string }[] = [];
    for (const [i, d] of (message.header.destination ?? []).entries()) {
      const element = `Bundle.entry[0].resource.destination[${i}]`;
      const receiver = message.targetOf(header, d.receiver?.reference);
      if (receiver) {
        const orgEntry = receiver.resource.resourceType === 'PractitionerRole' ? message.targetOf(receiver, (receiver.resource as PractitionerRole).organization?.reference) : receiver;
        if (orgEntry?.resource.resourceType !== 'Organization') throw err422('MessageHeader.destination.receiver must be (or work for) an Organization of the message', `${element}.receiver`);
        found.push({ org: await this.directoryOrg(repo, orgEntry, `${element}.receiver`), element: `${element}.receiver` });
      } else if (d.endpoint) {
        const byEndpoint = await this.byEndpoint(repo, d.endpoint);
        if (byEndpoint) found.push({ org: byEndpoint, element: `${element}.endpoint` });
      }
    }
    for (const [i, p] of (sr.resource.performer ?? []).entries()) {
      const target = message.targetOf(sr, p.reference);
      if (target?.resource.resourceType === 'Organization') found.push({ org: await this.directoryOrg(repo, target, `Bundle.entry[${sr.index}].resource.performer[${i}]`), element: `Bundle.entry[${sr.index}].resource.performer[${i}]` });
    }
    if (found.length === 0) throw err422('The message names no receiver the gateway knows: MessageHeader.destination (receiver or an endpoint in the directory) or ServiceRequest.performer must be a known organisation', 'Bundle.entry[0].resource.destination', 'not-found');
    const first = found[0];
    const other = found.find((f) => f.org.id !== first.org.id);
    if (other) throw err422(`${first.element} and ${other.element} name different organisations: the message has one receiver`, other.element);
    return first.org;
  }

  /**
   * The Organization of the directory that lists `endpoint` as its address (a telecom of system url), when exactly one
   * does. Organizations are the directory, which everyone reads, so the plain lookup reveals nothing.
   */
  private async byEndpoint(repo: Repository, endpoint: string): Promise<StoredVersion | undefined> {
    const r = await repo.txHandle().query<{ id: string }>(
      `SELECT id FROM resources WHERE resource_type = 'Organization' AND NOT deleted AND content->'telecom' @> $1::jsonb LIMIT 2`,
      [JSON.stringify([{ system: 'url', value: endpoint }])],
    );
    if (r.rows.length !== 1) return undefined;
    return repo.read('Organization', r.rows[0].id);
  }

  async receive(repo: Repository, body: unknown): Promise<ReceiveResult> {
    const message = this.check(body);
    const ctx = repo.ctx;
    const header = message.entries[0];
    const senderEntry = message.targetOf(header, message.header.sender?.reference);
    if (senderEntry?.resource.resourceType !== 'Organization') throw err422('MessageHeader.sender must be an Organization of the message', 'Bundle.entry[0].resource.sender', 'required');
    const senderUra = uraOfOrganization(senderEntry.resource);
    if (senderUra !== ctx.organizationUra) {
      throw forbidden(`MessageHeader.sender is URA ${senderUra ?? '(none)'}, but the access token is for URA ${ctx.organizationUra}: a system sends only its own organisation's messages`, ['Bundle.entry[0].resource.sender']);
    }
    const messageId = messageIdOf(message);
    const hash = canonicalHash(message.bundle);
    return repo.transaction(async (txRepo) => {
      const tx = txRepo.txHandle();
      // Two sends of one message at once: the second waits here and then finds the first's row.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`az-message|${senderUra}|${messageId}`]);
      const earlier = await tx.query<{ content_hash: string; task_id: string; response: Bundle }>(
        'SELECT content_hash, task_id, response FROM az_messages WHERE sender_ura = $1 AND message_id = $2',
        [senderUra, messageId],
      );
      const previous = earlier.rows[0];
      if (previous) {
        if (previous.content_hash !== hash) throw err422(`Message ${messageId} was already received with other content: a new message needs a new id`, 'Bundle.entry[0].resource.id');
        return { status: 200, response: previous.response, taskId: previous.task_id, resent: true };
      }
      const { taskId, stored } = await this.store(txRepo, message, messageId);
      const response = this.responseMessage(message.header, taskId);
      await tx.query('INSERT INTO az_messages (sender_ura, message_id, content_hash, task_id, stored, response) VALUES ($1, $2, $3, $4, $5, $6)', [
        senderUra,
        messageId,
        hash,
        taskId,
        JSON.stringify(stored),
        JSON.stringify(response),
      ]);
      return { status: 200, response, taskId, resent: false };
    });
  }

  /** Stores every resource of the message (organisations matched, not copied), then the handover Task, then the MessageHeader. */
  private async store(repo: Repository, message: ParsedMessage, messageId: string): Promise<{ taskId: string; stored: StoredMap }> {
    const sr = this.focus(message);
    const receiver = await this.destination(repo, message, sr);
    const refs = new Map<MessageEntry, string>();
    for (const org of message.ofType<Organization>('Organization')) refs.set(org, `Organization/${(await this.directoryOrg(repo, org, `Bundle.entry[${org.index}].resource.identifier`)).id}`);
    const requesterUra = repo.ctx.organizationUra;
    const requesterOrg = await this.orgs.byUra(repo, requesterUra);
    if (!requesterOrg) throw err422(`Your organisation (URA ${requesterUra}) is not in the gateway's directory`, 'Bundle.entry[0].resource.sender', 'not-found');

    // Referred to before referring: each resource is written once, with its references already stored ones.
    const order = ['Patient', 'Practitioner', 'PractitionerRole', 'Composition', 'DocumentReference', 'ServiceRequest'];
    const rest = message.entries.filter((e) => e.resource.resourceType !== 'MessageHeader' && e.resource.resourceType !== 'Organization');
    const unknown = rest.find((e) => !order.includes(e.resource.resourceType));
    if (unknown) throw err422(`A ${unknown.resource.resourceType} has no place in the AMB-naar-HAP message`, `Bundle.entry[${unknown.index}].resource`, 'invalid');
    rest.sort((a, b) => order.indexOf(a.resource.resourceType) - order.indexOf(b.resource.resourceType));
    const written: StoredVersion[] = [];
    for (const entry of rest) {
      const resource = this.prepare(message, entry, refs);
      const stored = entry.resource.resourceType === 'Patient' ? await this.upsertPatient(repo, resource as Patient) : (await repo.create(resource)).stored;
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
      priority: this.priorityOf(srStored),
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
    const headerStored = (await repo.create(this.prepare(message, headerEntry, refs))).stored;
    refs.set(headerEntry, `MessageHeader/${headerStored.id}`);
    written.push(taskStored, headerStored);
    await this.writeProvenance(repo, written, requesterOrg, messageId);
    const entries = message.entries.map((e) => ({ fullUrl: e.fullUrl, reference: refs.get(e) ?? '' }));
    const derivedPriority = !sr.resource.priority;
    return { taskId: taskStored.id, stored: { ...(derivedPriority ? { derivedPriority } : {}), timestamp: message.bundle.timestamp, identifier: message.bundle.identifier, entries } };
  }

  /** As native ingest does: what the message made, by whom, from which message (the handover's trail and timeline show it). */
  private async writeProvenance(repo: Repository, written: StoredVersion[], sender: StoredVersion, messageId: string): Promise<void> {
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
  private priorityOf(sr: ServiceRequest): Task['priority'] {
    return sr.priority ?? 'stat';
  }

  /** A copy of the entry's resource to store: no id or meta of the sender's, references to stored resources, urgency derived. */
  private prepare(message: ParsedMessage, entry: MessageEntry, refs: Map<MessageEntry, string>): Resource {
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
  private async upsertPatient(repo: Repository, patient: Patient): Promise<StoredVersion> {
    const bsn = patient.identifier?.find((i) => i.system === BSN_SYSTEM);
    const existing = bsn ? await findByIdentifier(repo, 'Patient', bsn) : undefined;
    if (existing && repo.mayChange(existing)) {
      const known = (existing.content as Patient).identifier ?? [];
      const identifiers = [...known, ...(patient.identifier ?? []).filter((i) => !known.some((k) => k.system === i.system && k.value === i.value))];
      return (await repo.update({ ...patient, id: existing.id, identifier: identifiers })).stored;
    }
    return (await repo.create(patient)).stored;
  }

  /** R4 messaging's answer: a message whose MessageHeader.response names the request and says ok; its focus is the handover. */
  private responseMessage(request: MessageHeader, taskId: string): Bundle {
    const id = randomUUID();
    const header: MessageHeader = {
      resourceType: 'MessageHeader',
      id,
      eventCoding: request.eventCoding,
      source: { endpoint: this.baseUrl, name: 'Handover gateway' },
      ...(request.source?.endpoint ? { destination: [{ endpoint: request.source.endpoint }] } : {}),
      response: { identifier: request.id ?? '', code: 'ok' },
      focus: [{ reference: `${this.baseUrl}/Task/${taskId}`, type: 'Task' } as Reference],
    };
    return { resourceType: 'Bundle', id: randomUUID(), type: 'message', timestamp: new Date().toISOString(), entry: [{ fullUrl: `urn:uuid:${id}`, resource: header }] };
  }
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
