// Issue 14, row 1: a group of candidates belongs to its requester. An organisation that puts a Task of its own
// into another organisation's group (the value is guessable: a HAP's contact number, a ride number) and accepts
// it used to cancel the real candidates "not selected" and become visible to their receiver. Every ordered pair
// of demo organisations tries it, through HTTP; each attempt is refused, audited, and changes nothing.
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { systemContext } from '../../src/context.ts';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { DEMO_CLIENTS, startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;

beforeAll(async () => {
  tg = await startTestGateway();
}, 120_000);

afterAll(async () => {
  await tg?.stop();
});

/** The organisations that write (the auditor shares the ZCC's URA and writes nothing). */
const ORGANISATIONS = (Object.keys(DEMO_CLIENTS) as DemoClient[]).filter((c) => c !== 'auditor');
const PAIRS = ORGANISATIONS.flatMap((attacker) => ORGANISATIONS.filter((victim) => victim !== attacker).map((victim) => [attacker, victim] as const));

async function post(client: DemoClient, body: { resourceType: string }, requestId: string = randomUUID()): Promise<request.Response> {
  return request(tg.app).post(`/fhir/${body.resourceType}`).set('Authorization', await tg.auth(client)).set('X-Request-Id', requestId).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
}

async function get(client: DemoClient, path: string): Promise<request.Response> {
  return request(tg.app).get(`/fhir/${path}`).set('Authorization', await tg.auth(client));
}

/** A requested handover of `requester` to `owner`, in `group`: its Task's id. */
async function handover(requester: DemoClient, owner: DemoClient, group: { system: string; value: string }, requestId: string = randomUUID()): Promise<request.Response> {
  const [requesterRef, ownerRef] = await Promise.all([tg.organizationRef(requester), tg.organizationRef(owner)]);
  const patient = await post(requester, buildPatient());
  expect(patient.status).toBe(201);
  const sr = await post(requester, buildServiceRequest({ patient: `Patient/${patient.body.id}`, requester: requesterRef, performer: ownerRef }));
  expect(sr.status).toBe(201);
  return post(requester, buildTask({ focus: `ServiceRequest/${sr.body.id}`, patient: `Patient/${patient.body.id}`, requester: requesterRef, owner: ownerRef }, { groupIdentifier: group }), requestId);
}

describe('a Task in another organisation’s group of candidates', () => {
  it.each(PAIRS)('%s cannot join (nor cancel) a group %s opened', async (attacker, victim) => {
    const receiver = ORGANISATIONS.find((o) => o !== attacker && o !== victim)!;
    // A value of a shared numbering (the ambulance ride numbers): the group's system says nothing of its owner.
    const group = { system: 'urn:oid:2.16.840.1.113883.2.4.3.32.5', value: `RAVNO-${randomUUID()}` };
    const real = await handover(victim, receiver, group);
    expect(real.status).toBe(201);
    const victimTask = real.body as Task;

    // The attack: a Task of its own (requester = owner = itself) carrying the victim's group.
    const requestId = randomUUID();
    const attempt = await handover(attacker, attacker, group, requestId);
    expect(attempt.status).toBe(422);
    const outcome = attempt.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue?.[0]?.expression).toEqual(['Task.groupIdentifier']);
    // The refusal names neither the other organisation nor the victim's handover.
    expect(JSON.stringify(outcome)).not.toContain(victimTask.id);

    // Audited as a refused create.
    const audited = await tg.gateway.db.query<{ outcome: string; status: number; organization_ura: string }>('SELECT outcome, status, organization_ura FROM audit_events WHERE request_id = $1', [requestId]);
    expect(audited.rows).toEqual([expect.objectContaining({ outcome: '4', status: 422, organization_ura: DEMO_CLIENTS[attacker] })]);

    // The victim's handover is unchanged, and the receiver sees no Task but the victim's in the group.
    const after = await get(victim, `Task/${victimTask.id}`);
    expect(after.status).toBe(200);
    expect([(after.body as Task).status, (after.body as Task).meta?.versionId]).toEqual(['requested', '1']);
    const seen = await get(receiver, `Task?group-identifier=${encodeURIComponent(`${group.system}|${group.value}`)}`);
    expect((seen.body as Bundle).entry?.map((e) => e.resource?.id)).toEqual([victimTask.id]);
    // Nothing of the attacker's was stored in the group, so nothing could be accepted or spread.
    const stored = await tg.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task' AND tokens && $1::text[]`, [[`group-identifier=${group.system}|${group.value}`]]);
    expect(Number(stored.rows[0]!.n)).toBe(1);
    if (attacker !== 'zcc-ijsselland') expect((await get(attacker, `Task/${victimTask.id}`)).status).toBe(404);
  });

  it('nor in a transaction Bundle: the refusal, found at commit, names the entry', async () => {
    const group = { system: 'urn:oid:2.16.840.1.113883.2.4.3.32.5', value: `RAVNO-${randomUUID()}` };
    expect((await handover('hap-vechtdal', 'rav-noordoost', group)).status).toBe(201);
    const vvt = await tg.organizationRef('vvt-sallandse-heuvelrug');
    const [patient, sr] = [`urn:uuid:${randomUUID()}`, `urn:uuid:${randomUUID()}`];
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patient, resource: buildPatient(), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: sr, resource: buildServiceRequest({ patient, requester: vvt, performer: vvt }), request: { method: 'POST', url: 'ServiceRequest' } },
        { resource: buildTask({ focus: sr, patient, requester: vvt, owner: vvt }, { groupIdentifier: group }), request: { method: 'POST', url: 'Task' } },
      ],
    };
    const refused = await request(tg.app)
      .post('/fhir')
      .set('Authorization', await tg.auth('vvt-sallandse-heuvelrug'))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify(bundle));
    expect(refused.status).toBe(422);
    const issue = (refused.body as OperationOutcome).issue?.[0];
    expect(issue?.expression).toEqual(['Task.groupIdentifier']);
    expect(issue?.diagnostics).toMatch(/^Bundle\.entry\[2\] \(POST Task\): This groupIdentifier belongs to a group of candidates another organisation opened/);
    // Nothing of the Bundle was stored.
    const stored = await tg.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task' AND tokens && $1::text[]`, [[`group-identifier=${group.system}|${group.value}`]]);
    expect(Number(stored.rows[0]!.n)).toBe(1);
  });

  it.each([
    ['nts', 'https://handover-gateway.nl/fhir/NamingSystem/nts-contact/90001234'],
    ['vvt', 'https://handover-gateway.nl/fhir/NamingSystem/vvt-aanvraag/90001234'],
  ])('nor take a value of the HAP’s own %s numbering before the HAP uses it', async (_format, system) => {
    const group = { system, value: `HAPV-${randomUUID()}` };
    const early = await handover('vvt-sallandse-heuvelrug', 'vvt-sallandse-heuvelrug', group);
    expect(early.status).toBe(422);
    expect((early.body as OperationOutcome).issue?.[0]?.expression).toEqual(['Task.groupIdentifier']);
    // The HAP itself still opens it afterwards.
    expect((await handover('hap-vechtdal', 'rav-noordoost', group)).status).toBe(201);
  });

  it('nor open the group at the same moment as its requester: of two creates at once, one is refused', async () => {
    // A create took no lock of its group: each create's check ran before the other committed, and both were stored
    // (20 of 30 rounds here). Now the second waits for the first's lock, then sees its Task.
    const taskOf = async (requester: DemoClient, owner: DemoClient, group: { system: string; value: string }): Promise<Task> => {
      const [requesterRef, ownerRef] = await Promise.all([tg.organizationRef(requester), tg.organizationRef(owner)]);
      const patient = await post(requester, buildPatient());
      const sr = await post(requester, buildServiceRequest({ patient: `Patient/${patient.body.id}`, requester: requesterRef, performer: ownerRef }));
      return buildTask({ focus: `ServiceRequest/${sr.body.id}`, patient: `Patient/${patient.body.id}`, requester: requesterRef, owner: ownerRef }, { groupIdentifier: group });
    };
    for (let round = 0; round < 10; round++) {
      const group = { system: 'urn:oid:2.16.840.1.113883.2.4.3.32.5', value: `RAVNO-${randomUUID()}` };
      const [real, other] = await Promise.all([taskOf('hap-vechtdal', 'rav-noordoost', group), taskOf('vvt-sallandse-heuvelrug', 'vvt-sallandse-heuvelrug', group)]);
      const answers = await Promise.all([post('hap-vechtdal', real), post('vvt-sallandse-heuvelrug', other)]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 422]);
      const stored = await tg.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task' AND tokens && $1::text[]`, [[`group-identifier=${group.system}|${group.value}`]]);
      expect(Number(stored.rows[0]!.n)).toBe(1);
    }
  });

  it('nor move a Task of its own into that group afterwards', async () => {
    const group = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` };
    expect((await handover('hap-vechtdal', 'rav-noordoost', group)).status).toBe(201);
    const own = await handover('vvt-sallandse-heuvelrug', 'vvt-sallandse-heuvelrug', { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` });
    expect(own.status).toBe(201);
    const moved = await request(tg.app)
      .patch(`/fhir/Task/${own.body.id}`)
      .set('Authorization', await tg.auth('vvt-sallandse-heuvelrug'))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/groupIdentifier', value: group }]));
    expect(moved.status).toBe(422);
    expect((moved.body as OperationOutcome).issue?.[0]?.expression).toEqual(['Task.groupIdentifier']);
  });

  it('a foreign Task already in the group (stored before this rule, or by a race) is no candidate of it: accepting it cancels nothing and spreads no party', async () => {
    const group = { system: 'urn:oid:2.16.840.1.113883.2.4.3.32.5', value: `RAVNO-${randomUUID()}` };
    const real = await handover('hap-vechtdal', 'rav-noordoost', group);
    expect(real.status).toBe(201);
    // The gateway writes past the workflow's checks, as the data of an older version (or two racing creates) would be.
    const vvt = await tg.organizationRef('vvt-sallandse-heuvelrug');
    const patient = await post('vvt-sallandse-heuvelrug', buildPatient());
    const sr = await post('vvt-sallandse-heuvelrug', buildServiceRequest({ patient: `Patient/${patient.body.id}`, requester: vvt, performer: vvt }));
    const foreign = await tg.gateway
      .repository(systemContext('test'))
      .create(buildTask({ focus: `ServiceRequest/${sr.body.id}`, patient: `Patient/${patient.body.id}`, requester: vvt, owner: vvt }, { groupIdentifier: group }));
    const accepted = await request(tg.app)
      .patch(`/fhir/Task/${foreign.stored.id}`)
      .set('Authorization', await tg.auth('vvt-sallandse-heuvelrug'))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'accepted' }]));
    expect(accepted.status).toBe(200);
    const victim = (await get('hap-vechtdal', `Task/${real.body.id}`)).body as Task;
    expect([victim.status, victim.meta?.versionId]).toEqual(['requested', '1']);
    // Neither side became party to the other's Task.
    expect((await get('rav-noordoost', `Task/${foreign.stored.id}`)).status).toBe(404);
    expect((await get('vvt-sallandse-heuvelrug', `Task/${real.body.id}`)).status).toBe(404);
  });

  it('a requester still adds candidates to a group of its own, and the first acceptance cancels only them', async () => {
    const group = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` };
    const a = await handover('zcc-ijsselland', 'vvt-ijsseldelta', group);
    const b = await handover('zcc-ijsselland', 'vvt-sallandse-heuvelrug', group);
    expect([a.status, b.status]).toEqual([201, 201]);
    const accepted = await request(tg.app)
      .patch(`/fhir/Task/${a.body.id}`)
      .set('Authorization', await tg.auth('vvt-ijsseldelta'))
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'accepted' }]));
    expect(accepted.status).toBe(200);
    const loser = (await get('zcc-ijsselland', `Task/${b.body.id}`)).body as Task;
    expect([loser.status, loser.statusReason?.text]).toEqual(['cancelled', 'not selected']);
  });
});
