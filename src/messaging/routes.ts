// POST /fhir/$process-message and POST /fhir/Bundle (a message Bundle): the AZ-IG referral received synchronously.
import type { Extension, MessageHeader } from '@medplum/fhirtypes';
import type { CapabilityContribution } from '../fhir/capability.ts';
import { badRequest } from '../fhir/outcomes.ts';
import type { FhirRequest, FhirResponse } from '../fhir/rest-types.ts';
import type { Repository } from '../fhir/repository.ts';
import type { FhirRouter, RouteMeta, ScopeAccess } from '../fhir/router.ts';
import type { RestServices } from '../fhir/rest.ts';
import type { MessageReceiver } from './receive.ts';

/** What a message may make: every type is created (and the patient possibly updated), so each needs `c` (and Patient `u`). */
const CREATED_TYPES = ['Patient', 'Practitioner', 'PractitionerRole', 'Composition', 'DocumentReference', 'ServiceRequest', 'Task', 'MessageHeader'];
const RESPONSE_REQUEST = 'http://hl7.org/fhir/StructureDefinition/messageheader-response-request';

/** The sender's wish for an answer (R4 extension messageheader-response-request on MessageHeader); `always` when it says none. */
function responseWanted(body: unknown): 'always' | 'on-error' | 'never' | 'on-success' {
  const header = (body as { entry?: { resource?: MessageHeader }[] } | undefined)?.entry?.[0]?.resource;
  const ext = (header?.extension ?? []).find((e: Extension) => e.url === RESPONSE_REQUEST);
  const code = ext?.valueCode;
  return code === 'on-error' || code === 'never' || code === 'on-success' ? code : 'always';
}

export function registerMessagingRoutes(fhir: FhirRouter, services: RestServices, receiver: MessageReceiver): CapabilityContribution {
  // The router checks these before a handler runs: create on every type a message may make, and update on Patient.
  const meta: RouteMeta<ScopeAccess> = {
    interaction: 'operation',
    type: 'MessageHeader',
    access: { any: ['c'], also: [...CREATED_TYPES.filter((t) => t !== 'MessageHeader').map((type) => ({ type, letter: 'c' as const })), { type: 'Patient', letter: 'u' }] },
  };
  const handle = async (req: FhirRequest, repo: Repository): Promise<FhirResponse> => {
    const result = await receiver.receive(repo, req.body);
    const headers = { 'Content-Location': `${services.baseUrl}/Task/${result.taskId}` };
    // Errors are always answered (an OperationOutcome); a success only when the sender asks for it.
    const wanted = responseWanted(req.body);
    if (wanted === 'never' || wanted === 'on-error') return { status: 204, headers };
    return { status: result.status, body: result.response, headers };
  };
  fhir.add('POST', '$process-message', meta, async (req, { repo }) => {
    // The gateway processes a message while the sender waits (R4 messaging, synchronous); it sends no answer elsewhere.
    const asynchronous = req.query.async?.[0];
    if (asynchronous !== undefined && asynchronous !== 'false') throw badRequest('Only synchronous processing is offered: leave out async or set async=false', ['async']);
    if (req.query['response-url'] !== undefined) throw badRequest('response-url is for asynchronous processing, which the gateway does not offer: the answer is this response', ['response-url']);
    return handle(req, repo);
  });
  // A message POSTed to the Bundle endpoint (Nictiz's TestScripts do, provisionally): processed as by $process-message.
  fhir.add('POST', 'Bundle', meta, async (req, { repo }) => {
    const type = (req.body as { type?: unknown } | undefined)?.type;
    if (type !== 'message') throw badRequest(`POST /Bundle takes a message Bundle (Bundle.type = message); transactions and batches go to the base, got '${String(type)}'`, ['Bundle.type']);
    return handle(req, repo);
  });
  return { operations: [{ operation: { name: 'process-message', definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message' } }] };
}
