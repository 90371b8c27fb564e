// Issue 16, the check of point 2 in one flow: a Task that names both organisations by URA alone
// (`requester.identifier`, `owner.identifier`, the Dutch way) is accepted from the requester and refused from anyone
// else; `Task?owner:identifier=ura|X` finds it; the owner's subscription with that filter fires for it.
import type { Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { receiversForFile, subscribe } from '../support/receiver.ts';
import { expectOutcome, fhirClient } from './helpers.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const HAP_URA = '90001234';
const RAV_URA = '90004567';

let tg: TestGateway;
const receiver = receiversForFile();

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
});
afterAll(async () => {
  await tg?.stop();
});

it('a Task naming requester and owner by URA: the requester may make it, nobody else; found and notified by owner:identifier', async () => {
  const hap = await fhirClient(tg, 'hap-vechtdal');
  const rav = await fhirClient(tg, 'rav-noordoost');
  const r = await receiver();
  await subscribe(tg, 'rav-noordoost', r, `Task?owner:identifier=${URA}|${RAV_URA}`);

  const requesterRef = await tg.organizationRef('hap-vechtdal');
  const ownerRef = await tg.organizationRef('rav-noordoost');
  const patient = `Patient/${(await hap.create(buildPatient())).id}`;
  const focus = `ServiceRequest/${(await hap.create(buildServiceRequest({ patient, requester: requesterRef, performer: ownerRef }))).id}`;
  const byUra: Task = {
    ...buildTask({ focus, patient, requester: requesterRef, owner: ownerRef }),
    requester: { identifier: { system: URA, value: HAP_URA }, display: 'HAP Vechtdal' },
    owner: { identifier: { system: URA, value: RAV_URA } },
  };

  // Anyone but the requester: refused, and the message names the URA the Task gave and the caller's own.
  const refused = expectOutcome(await rav.post('Task', byUra), 422);
  expect(refused.issue?.[0]?.expression).toEqual(['Task.requester']);
  expect(refused.issue?.[0]?.diagnostics).toContain(HAP_URA);

  const created = await hap.post('Task', byUra);
  expect(created.status).toBe(201);
  const task = created.body as Task;
  // What the client sent is kept; the literal reference is added.
  expect(task.requester).toEqual({ identifier: { system: URA, value: HAP_URA }, display: 'HAP Vechtdal', reference: requesterRef });
  expect(task.owner).toEqual({ identifier: { system: URA, value: RAV_URA }, reference: ownerRef });

  // Among the Tasks with this Task's identifier: found by the owner's URA, not by another's.
  const own = task.identifier?.[0];
  const search = async (ura: string): Promise<(string | undefined)[]> => {
    const res = await hap.get(`Task?identifier=${encodeURIComponent(`${own?.system ?? ''}|${own?.value ?? ''}`)}&owner:identifier=${encodeURIComponent(`${URA}|${ura}`)}`);
    expect(res.status).toBe(200);
    return ((res.body as { entry?: { resource: Task }[] }).entry ?? []).map((e) => e.resource.id);
  };
  expect(await search(RAV_URA)).toEqual([task.id]);
  expect(await search(HAP_URA)).toEqual([]);

  await r.waitFor(() => r.events().some((e) => e.body.includes(`Task/${task.id ?? ''}`)), 'the owner:identifier subscription fires');
});
