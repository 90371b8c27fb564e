// Issue 14 ("Caches") and 15 ("one home per fact"): Organization → URA is one cached lookup, and a change of an
// Organization reaches every instance's cache at once (locally) or within a NOTIFY round trip (elsewhere). The
// workflow decides with it who may make a transition: here, whether a Task's requester is the writer's own
// organisation. Two gateways on one database, each with its own connections and caches, as two processes.
import type { Organization } from '@medplum/fhirtypes';
import request from 'supertest';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { startSecondInstance, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postgresOnly } from '../support/database.ts';

// A second instance needs a database it can share with the first: PostgreSQL.
const onPostgres = postgresOnly(test);

const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  a = await startTestGateway();
  b = await startSecondInstance(a);
}, 120_000);

afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

async function send(gw: TestGateway, method: 'post' | 'put', path: string, body: unknown): Promise<request.Response> {
  return request(gw.app)[method](`/fhir/${path}`).set('Authorization', await gw.auth('hap-vechtdal')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
}

/** Retries `attempt` until it answers `status`, for at most a few seconds (another instance hears of a change by NOTIFY). */
async function eventually(status: number, attempt: () => Promise<request.Response>): Promise<request.Response> {
  let last = await attempt();
  for (let i = 0; i < 50 && last.status !== status; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await attempt();
  }
  return last;
}

onPostgres('an Organization’s URA, added and removed through one instance, decides on the other at once', async () => {
  // An Organization of the HAP's without a URA yet: as a requester it is nobody's own organisation.
  const made = await send(a, 'post', 'Organization', { resourceType: 'Organization', name: 'HAP Vechtdal, locatie Ommen' } satisfies Organization);
  expect(made.status).toBe(201);
  const org = made.body as Organization;
  const requester = `Organization/${org.id}`;
  const owner = await a.organizationRef('rav-noordoost');
  const patient = `Patient/${(await send(a, 'post', 'Patient', buildPatient())).body.id}`;
  const focus = `ServiceRequest/${(await send(a, 'post', 'ServiceRequest', buildServiceRequest({ patient, requester: await a.organizationRef('hap-vechtdal'), performer: owner }))).body.id}`;
  const task = (): ReturnType<typeof buildTask> => buildTask({ focus, patient, requester, owner });

  // Both instances look it up (and so cache it) as an Organization without a URA.
  for (const gw of [a, b]) {
    const refused = await send(gw, 'post', 'Task', task());
    expect(refused.status).toBe(422);
    expect(refused.body.issue?.[0]?.expression).toEqual(['Task.requester']);
  }

  // The HAP puts its URA on it, through A: A knows at once, B within the NOTIFY round trip.
  const withUra = await send(a, 'put', `Organization/${org.id}`, { ...org, identifier: [{ system: URA_SYSTEM, value: '90001234' }] });
  expect(withUra.status).toBe(200);
  expect((await send(a, 'post', 'Task', task())).status).toBe(201);
  expect((await eventually(201, () => send(b, 'post', 'Task', task()))).status).toBe(201);

  // And takes it off again, through B: B refuses at once, A within the round trip. A stale cache would let the HAP
  // go on writing as an organisation that no longer carries its URA.
  const withoutUra = await send(b, 'put', `Organization/${org.id}`, { ...org, identifier: undefined });
  expect(withoutUra.status).toBe(200);
  expect((await send(b, 'post', 'Task', task())).status).toBe(422);
  expect((await eventually(422, () => send(a, 'post', 'Task', task()))).status).toBe(422);
});
