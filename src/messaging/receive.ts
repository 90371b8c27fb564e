// Receiving an AZ-IG AMB-naar-HAP message: checked whole, stored whole in one transaction, with a handover Task.
import { createHash, randomUUID } from 'node:crypto';
import type { Bundle, MessageHeader, Reference } from '@medplum/fhirtypes';
import { uraOfOrganization, type OrganizationDirectory } from '../access/organizations.ts';
import { forbidden, unprocessable } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { ParsedMessage } from './message.ts';
import { checkMessage, err422 } from './receive-check.ts';
import { storeMessage } from './receive-store.ts';
import type { MessageRules } from './rules.ts';

export interface ReceiveResult {
  /** 200 for a message processed now or before (a re-send gets the first answer). */
  status: 200;
  response: Bundle;
  taskId: string;
  resent: boolean;
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
    return checkMessage(body, this.rules);
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
      const { taskId, stored } = await storeMessage(this.orgs, txRepo, message, messageId);
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
