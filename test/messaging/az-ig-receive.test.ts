// Issue 17: the AZ-IG AMB-naar-HAP referral message received (POST /fhir/$process-message, POST /fhir/Bundle),
// stored whole with a handover Task, readable by both parties and nobody else; invalid variants refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Composition, DocumentReference, MessageHeader, OperationOutcome, ServiceRequest, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { bearer, HAP_UTRECHT, newMessage, RAV_UTRECHT, referenceMessage, REFERENCE_MESSAGE_FILE, registerUtrecht, storeCounts } from '../support/az-ig.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
  await registerUtrecht(tg);
}, 60_000);
afterAll(async () => tg?.stop());

const FHIR = 'application/fhir+json';

async function send(path: '/fhir/$process-message' | '/fhir/Bundle', body: unknown, client = RAV_UTRECHT.clientId): Promise<request.Response> {
  return request(tg.app).post(path).set('Authorization', await bearer(tg, client)).set('Content-Type', FHIR).send(JSON.stringify(body));
}

async function read<T>(ref: string, client: string): Promise<request.Response & { body: T }> {
  return request(tg.app).get(`/fhir/${ref}`).set('Authorization', await bearer(tg, client));
}

function taskIdOf(res: request.Response): string {
  const m = /\/Task\/([^/]+)$/.exec(String(res.headers['content-location']));
  if (!m) throw new Error(`no Task in Content-Location: ${res.status} ${res.text}`);
  return m[1];
}

describe('the reference message', () => {
  let taskId: string;

  it('is accepted as published by $process-message: a response message saying ok, and a handover Task', async () => {
    const res = await send('/fhir/$process-message', referenceMessage());
    expect(res.status).toBe(200);
    const response = res.body as Bundle;
    expect(response.type).toBe('message');
    const header = response.entry?.[0]?.resource as MessageHeader;
    expect(header.response).toEqual({ identifier: 'hg-ReferralMessageHeader-AmbulanceHAP-referral', code: 'ok' });
    expect(header.eventCoding).toMatchObject({ system: 'http://nictiz.nl/fhir/CodeSystem/hg-message-event', code: '145' });
    taskId = taskIdOf(res);
    const task = (await read<Task>(`Task/${taskId}`, HAP_UTRECHT.clientId)).body;
    expect(task.status).toBe('requested');
    expect(task.owner?.reference).toBe(await tg.organizationRef(HAP_UTRECHT.ura));
    expect(task.requester?.reference).toBe(await tg.organizationRef(RAV_UTRECHT.ura));
  });

  it('a re-send (either endpoint) gets the first answer and makes no second handover', async () => {
    const before = await storeCounts(tg);
    const first = await send('/fhir/$process-message', referenceMessage());
    const again = await send('/fhir/Bundle', referenceMessage());
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(taskIdOf(again)).toBe(taskId);
    expect((await storeCounts(tg)).resources).toEqual(before.resources);
  });

  it('the HAP reads the letter, the attachment (bytes identical) and the urgency derived; another organisation gets 404 for each', async () => {
    const task = (await read<Task>(`Task/${taskId}`, HAP_UTRECHT.clientId)).body;
    const sr = (await read<ServiceRequest>(task.focus?.reference ?? '', HAP_UTRECHT.clientId)).body;
    // The message carries no urgency: the highest is assumed and marked as derived, never a weaker one.
    expect(sr.priority).toBe('stat');
    expect(task.priority).toBe('stat');
    // The board shows it as urgent as its scale goes for `stat`, not as an unknown code at the bottom.
    const board = await request(tg.app).get(`/board/handovers/${taskId}`).set('Authorization', await bearer(tg, HAP_UTRECHT.clientId));
    expect(board.status).toBe(200);
    expect((board.body as { row: { urgency: { code: string } } }).row.urgency.code).toBe('U1');
    const refs = (sr.supportingInfo ?? []).map((s: { reference?: string }) => s.reference ?? '');
    expect(refs).toHaveLength(2);
    const composition = (await read<Composition>(refs[0], HAP_UTRECHT.clientId)).body;
    const published = referenceMessage().entry?.[2]?.resource as Composition;
    expect(composition.section).toEqual(published.section);
    const doc = (await read<DocumentReference>(refs[1], HAP_UTRECHT.clientId)).body;
    const bytes = Buffer.from(doc.content[0].attachment.data ?? '', 'base64');
    const publishedDoc = JSON.parse(readFileSync(REFERENCE_MESSAGE_FILE, 'utf8')).entry[8].resource as DocumentReference;
    expect(bytes.equals(Buffer.from(publishedDoc.content[0].attachment.data ?? '', 'base64'))).toBe(true);
    const header = await tg.gateway.db.query<{ id: string }>(`SELECT id FROM resources WHERE resource_type = 'MessageHeader' LIMIT 1`);
    const all = [`Task/${taskId}`, task.focus?.reference ?? '', task.for?.reference ?? '', ...refs, `MessageHeader/${header.rows[0].id}`];
    const provenance = await request(tg.app).get(`/fhir/Provenance?target=Task/${taskId}`).set('Authorization', await bearer(tg, HAP_UTRECHT.clientId));
    const prov = (provenance.body as Bundle).entry?.[0]?.resource as { id: string; entity?: { what?: { identifier?: { value?: string } } }[] };
    expect(prov.entity?.[0]?.what?.identifier?.value).toBe('hg-ReferralMessageHeader-AmbulanceHAP-referral');
    all.push(`Provenance/${prov.id}`);
    for (const ref of all) {
      expect((await read(ref, RAV_UTRECHT.clientId)).status).toBe(200);
      expect((await read(ref, HAP_UTRECHT.clientId)).status).toBe(200);
      expect((await read(ref, 'hap-vechtdal')).status).toBe(404);
    }
  });
});

describe('message ids and answers', () => {
  it('knows a message by Bundle.identifier when it has one, whatever its MessageHeader id', async () => {
    const identifier = { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:5d3c1e7a-8f0b-4b8e-9a43-0c1d2e3f4a5b' };
    const first = await send('/fhir/$process-message', newMessage('with-identifier-1', (b) => (b.identifier = identifier)));
    expect(first.status).toBe(200);
    const before = await storeCounts(tg);
    const again = await send('/fhir/$process-message', newMessage('with-identifier-1', (b) => (b.identifier = identifier)));
    expect(again.body).toEqual(first.body);
    // The same Bundle.identifier with another MessageHeader id is the same message with other content.
    const other = await send('/fhir/$process-message', newMessage('with-identifier-2', (b) => (b.identifier = identifier)));
    expect(other.status).toBe(422);
    expect((await storeCounts(tg)).resources).toEqual(before.resources);
  });

  it('two sends of one message at once make one handover', async () => {
    const body = newMessage('concurrent-1');
    const [a, b] = await Promise.all([send('/fhir/$process-message', body), send('/fhir/Bundle', body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(taskIdOf(a)).toBe(taskIdOf(b));
    const tasks = await tg.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task' AND content->'identifier' @> $1::jsonb`, [
      JSON.stringify([{ value: 'concurrent-1' }]),
    ]);
    expect(Number(tasks.rows[0].n)).toBe(1);
  });

  it('answers 204 when the MessageHeader asks for no answer on success, still storing the handover', async () => {
    const res = await send('/fhir/$process-message', newMessage('no-answer-1', (b) => ((b.entry?.[0]?.resource as MessageHeader).extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/messageheader-response-request', valueCode: 'on-error' }])));
    expect(res.status).toBe(204);
    expect((await read<Task>(`Task/${taskIdOf(res)}`, HAP_UTRECHT.clientId)).status).toBe(200);
  });

  it('offers synchronous processing only', async () => {
    const res = await request(tg.app).post('/fhir/$process-message?async=true').set('Authorization', await bearer(tg, RAV_UTRECHT.clientId)).set('Content-Type', FHIR).send(JSON.stringify(newMessage('async-1')));
    expect(res.status).toBe(400);
  });
});

describe('invalid variants: 4xx naming the element, nothing stored, audited', () => {
  const cases: [string, () => Bundle, number, string][] = [
    ['no MessageHeader', () => newMessage('no-header', (b) => b.entry?.shift()), 422, 'Bundle.entry[0].resource'],
    ['a wrong event code', () => newMessage('wrong-event', (b) => ((b.entry?.[0]?.resource as MessageHeader).eventCoding = { system: 'http://nictiz.nl/fhir/CodeSystem/hg-message-event', code: '999' })), 422, 'MessageHeader.eventCoding'],
    ['an unknown destination', () => newMessage('unknown-destination', (b) => ((b.entry?.[7]?.resource as { identifier: { value: string }[] }).identifier[0].value = '00009876')), 422, 'performer'],
    ['an attachment over the limit', () => newMessage('big-attachment', (b) => ((b.entry?.[8]?.resource as DocumentReference).content[0].attachment.data = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(600 * 1024)]).toString('base64'))), 413, 'attachment.data'],
    ['an attachment that is not a PDF', () => newMessage('not-pdf', (b) => ((b.entry?.[8]?.resource as DocumentReference).content[0].attachment.contentType = 'application/zip')), 422, 'attachment.contentType'],
    ['a letter without a patient', () => newMessage('no-patient', (b) => delete (b.entry?.[2]?.resource as Composition).subject), 422, 'Composition.subject'],
    ['a reference outside the message', () => newMessage('dangling', (b) => ((b.entry?.[1]?.resource as ServiceRequest).requester = { reference: 'PractitionerRole/elsewhere' })), 422, 'requester'],
  ];

  it.each(cases)('%s', async (_name, make, status, element) => {
    const body = make();
    const before = await storeCounts(tg);
    const res = await send('/fhir/$process-message', body);
    expect(res.status).toBe(status);
    const outcome = res.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(outcome.issue.map((i) => i.expression))).toContain(element);
    const after = await storeCounts(tg);
    expect(after.resources).toEqual(before.resources);
    expect(after.audit).toBeGreaterThan(before.audit);
  });

  it('a sender that is not the token\'s organisation: 403, nothing stored, audited', async () => {
    const before = await storeCounts(tg);
    const res = await send('/fhir/$process-message', newMessage('other-sender'), 'rav-noordoost');
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toContain('sender');
    const after = await storeCounts(tg);
    expect(after.resources).toEqual(before.resources);
    expect(after.audit).toBeGreaterThan(before.audit);
  });

  it('the same message id with other content is refused (422), the first handover stays the only one', async () => {
    const changed = referenceMessage();
    (changed.entry?.[1]?.resource as ServiceRequest).patientInstruction = 'Iets anders';
    const res = await send('/fhir/$process-message', changed);
    expect(res.status).toBe(422);
  });

  it('POST /fhir/Bundle takes only a message', async () => {
    const res = await send('/fhir/Bundle', { resourceType: 'Bundle', type: 'collection' });
    expect(res.status).toBe(400);
  });
});

describe('the OpenAPI example', () => {
  it('is the reference message as published, byte for byte', () => {
    const example = readFileSync(join(import.meta.dirname, '../../openapi/examples/az-ig-ambulance-hap-referral.json'));
    expect(example.equals(readFileSync(REFERENCE_MESSAGE_FILE))).toBe(true);
  });
});
