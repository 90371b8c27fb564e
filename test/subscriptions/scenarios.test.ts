// Scenarios S2 to S5 end to end with native payloads: each step asserts the stored FHIR and what the receiving systems
// (HTTP servers on loopback, subscribed as real systems would be) got. Also heartbeats and the endpoint allow-list.
import type { Bundle, Parameters, Subscription, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import type { TestGateway } from '../support/gateway.ts';
import { example, fillHandover, idFrom, refusal, setBsn, uniqueRide, withNativeGateway, type Native, type NativeRecord } from '../support/native.ts';
import { receiversForFile, subscribe, subscriptionBody, type Received, type Receiver } from '../support/receiver.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const HAP = '90001234';
const RAV = '90004567';
const IJSSELDELTA = '90007890';
const SALLAND = { soort: 'VVT', ura: '90007891', naam: 'Zorggroep Sallandse Heuvelrug' };

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g), { ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_ALLOWED_ORIGINS: JSON.stringify({ [RAV]: ['https://hooks.rav.example'] }) });
const receiver = receiversForFile();

const records = (r: Receiver): NativeRecord[] => r.events().map((e) => JSON.parse(e.body) as NativeRecord);
const task = (id: string, client: 'hap-vechtdal' | 'rav-noordoost' | 'zcc-ijsselland' = 'hap-vechtdal'): Promise<Task> => native.read<Task>(`Task/${id}`, client);

/** Waits for a native notification about `handoverId` that satisfies `test`, and returns it. */
async function heard(r: Receiver, what: string, test: (x: NativeRecord) => boolean): Promise<NativeRecord> {
  await r.waitFor(() => records(r).some(test), what);
  const found = records(r).find(test);
  if (!found) throw new Error(what);
  return found;
}

describe('S2: not transported, ambulance to home care, with native vvt payloads', () => {
  it('the VVT hears the request in its format, plans and reports; the RAV hears both answers in its own', async () => {
    const vvt = await receiver();
    const rav = await receiver();
    await subscribe(tg, 'vvt-ijsseldelta', vvt, `Task?owner=${URA}|${IJSSELDELTA}`, 'application/x-vvt+json');
    await subscribe(tg, 'rav-noordoost', rav, `Task?requester=${URA}|${RAV}`, 'application/x-ambulance+json');

    const { taskId, bsn, record } = await native.createHandover('ambulance-niet-vervoerd-naar-vvt.json', 'rav-noordoost');
    // The RAV's own ride, rendered back to it: known by its ride number.
    const ride = (x: NativeRecord): boolean => x.ritnummer === record.ritnummer;
    const asked = await heard(vvt, 'the VVT request', (x) => x.overdracht_id === taskId);
    expect(asked).toMatchObject({ status: 'AANGEVRAAGD', urgentie: 'BINNEN_4_UUR', client_bsn: bsn });
    expect(asked.client_adres).toContain('Veerallee 80');
    expect(asked.zorgvraag?.length).toBeGreaterThan(0);
    expect(vvt.events()[0]?.headers['content-type']).toBe('application/x-vvt+json');
    expect((await task(taskId, 'rav-noordoost')).status).toBe('requested');

    const answer = (name: string): NativeRecord =>
      fillHandover({ ...setBsn('vvt', example(name), bsn), aanvrager_soort: 'RAV', aanvrager_naam: 'RAV Noordoost', aanvrager_ura: RAV }, taskId);
    await native.sendOk('vvt', answer('vvt-antwoord-ingepland'), 'vvt-ijsseldelta');
    expect((await task(taskId, 'rav-noordoost')).status).toBe('accepted');
    const planned = await heard(rav, 'the acceptance', (x) => ride(x) && x.overdracht?.terugkoppeling?.status === 'GEACCEPTEERD');
    expect(planned.overdracht.naar.ura).toBe(IJSSELDELTA);

    await native.sendOk('vvt', answer('vvt-antwoord-uitgevoerd'), 'vvt-ijsseldelta');
    const done = await task(taskId, 'rav-noordoost');
    expect(done.status).toBe('completed');
    expect(JSON.stringify(done.output)).toContain('Katheter vervangen');
    const report = await heard(rav, 'the report', (x) => ride(x) && x.overdracht?.terugkoppeling?.status === 'AFGEROND');
    expect(report.overdracht.terugkoppeling.verslag).toContain('Katheter vervangen');
    // Each notification tells the state of its own event (the Task at that version), in order; the report moved
    // the Task through in-progress to completed, two events.
    expect(records(rav).filter(ride).map((x) => x.overdracht?.terugkoppeling?.status)).toEqual(['AANGEVRAAGD', 'GEACCEPTEERD', 'IN_BEHANDELING', 'AFGEROND']);
    // The VVT, filtered on what it owns, heard its own answers too: planned, then done.
    await heard(vvt, 'the done state', (x) => x.overdracht_id === taskId && x.status === 'UITGEVOERD');
    const vvtStates = records(vvt).filter((x) => x.overdracht_id === taskId).map((x) => x.status);
    expect([vvtStates.slice(0, 2), vvtStates.at(-1)]).toEqual([['AANGEVRAAGD', 'INGEPLAND'], 'UITGEVOERD']);
  });
});

describe('S3: refused, then re-addressed', () => {
  it('the HAP hears the refusal and the new request is heard by the next candidate; the refused Task stays', async () => {
    const hap = await receiver();
    const salland = await receiver();
    await subscribe(tg, 'hap-vechtdal', hap, `Task?requester=${URA}|${HAP}`, 'application/x-nts+json');
    await subscribe(tg, 'vvt-sallandse-heuvelrug', salland, `Task?owner=${URA}|${SALLAND.ura}`, 'application/x-vvt+json');

    const { taskId, record, bsn } = await native.createHandover('nts-u3-naar-wijkverpleging.json', 'hap-vechtdal');
    await heard(hap, 'the request', (x) => x.contactId === record.contactId && x.overdracht?.terugkoppeling?.status === 'AANGEVRAAGD');
    await native.sendOk('vvt', fillHandover(setBsn('vvt', example('vvt-antwoord-afgewezen'), bsn), taskId), 'vvt-ijsseldelta');
    expect((await task(taskId)).status).toBe('rejected');
    const refused = await heard(hap, 'the refusal', (x) => x.contactId === record.contactId && x.overdracht?.terugkoppeling?.status === 'GEWEIGERD');
    expect(refused.overdracht.terugkoppeling.reden).toContain('Geen capaciteit');

    const res = await native.sendOk('nts', { ...record, volgnummer: record.volgnummer + 1, overdracht: { ...record.overdracht, naar: SALLAND } });
    const newId = idFrom(res.headers.location, 'Task');
    expect(newId).not.toBe(taskId);
    const [old, fresh] = [await task(taskId), await task(newId)];
    expect([old.status, fresh.status]).toEqual(['rejected', 'requested']);
    expect(fresh.groupIdentifier).toEqual(old.groupIdentifier);
    const asked = await heard(salland, 'the new request', (x) => x.overdracht_id === newId);
    expect(asked).toMatchObject({ status: 'AANGEVRAAGD', client_bsn: bsn });
    // Both notifications about the contact reached the HAP: the refusal of the first, the request to the second.
    await heard(hap, 'the re-addressed request', (x) => x.overdracht?.naar?.ura === SALLAND.ura);
    const hapEvents = hap.events().map((e) => e.eventNumber);
    expect(hapEvents).toEqual([...new Set(hapEvents)].sort((a, b) => a - b));
  });
});

describe('S5: cancelled before acceptance', () => {
  it('the RAV hears the cancellation in its format; a later acceptance is 422 and tells no one anything', async () => {
    const rav = await receiver();
    const sub = await subscribe(tg, 'rav-noordoost', rav, `Task?owner=${URA}|${RAV}`, 'application/x-ambulance+json');
    const { taskId, record, bsn } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await heard(rav, 'the request', (x) => x.overdrachtId === taskId && x.status === 'AANGEVRAAGD');
    await native.sendOk('nts', { ...record, volgnummer: record.volgnummer + 1, status: 'GEANNULEERD', redenAnnulering: 'Patiënt zelf naar SEH gebracht' });
    expect((await task(taskId)).status).toBe('cancelled');
    const cancelled = await heard(rav, 'the cancellation', (x) => x.overdrachtId === taskId && x.status === 'GEANNULEERD');
    expect(JSON.stringify(cancelled)).toContain('Patiënt zelf naar SEH gebracht');

    const accept = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...uniqueRide() }, taskId);
    const { text } = refusal(await native.send('ambulance', accept, 'rav-noordoost'), [422]);
    expect(text).toMatch(/cancelled/);
    expect((await task(taskId)).status).toBe('cancelled');
    const status = await request(tg.app).get(`/fhir/Subscription/${sub.id}/$status`).set('Authorization', await tg.auth('rav-noordoost'));
    const count = ((status.body as Bundle).entry?.[0]?.resource as Parameters).parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString;
    expect(count).toBe('2');

    // Each delivery attempt is audited (NEN 7513): to whom, where, with which answer, about which handover.
    let details: string[] = [];
    for (let i = 0; i < 100 && details.length < 2; i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      const audited = (await request(tg.app).get('/fhir/AuditEvent').query({ entity: `Subscription/${sub.id}` }).set('Authorization', await tg.auth('auditor'))).body as Bundle;
      details = (audited.entry ?? []).map((e) => JSON.stringify(e.resource)).filter((d) => d.includes('"event-number"'));
    }
    expect(details).toHaveLength(2);
    for (const d of details) {
      expect(d).toContain(rav.url);
      expect(d).toContain(`Task/${taskId}`);
      expect(d).toMatch(/"http-status","valueString":"200"/);
    }
  });
});

describe('S4 with native payloads', () => {
  it('the losing VVT hears "niet geselecteerd" in its own format, the winner its acceptance', async () => {
    const zcc = await tg.organizationRef('zcc-ijsselland');
    const ijsseldelta = await tg.organizationRef('vvt-ijsseldelta');
    const salland = await tg.organizationRef('vvt-sallandse-heuvelrug');
    const recvA = await receiver();
    const recvB = await receiver();
    await subscribe(tg, 'vvt-ijsseldelta', recvA, `Task?owner=${URA}|${IJSSELDELTA}`, 'application/x-vvt+json');
    await subscribe(tg, 'vvt-sallandse-heuvelrug', recvB, `Task?owner=${URA}|${SALLAND.ura}`, 'application/x-vvt+json');
    const post = async (body: { resourceType: string }) =>
      (await request(tg.app).post(`/fhir/${body.resourceType}`).set('Authorization', await tg.auth('zcc-ijsselland')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body))).body as { id: string };
    const patient = `Patient/${(await post(buildPatient())).id}`;
    const focus = `ServiceRequest/${(await post(buildServiceRequest({ patient, requester: zcc, performer: ijsseldelta }))).id}`;
    const group = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${crypto.randomUUID()}` };
    const [ta, tb] = await Promise.all([ijsseldelta, salland].map((owner) => post(buildTask({ focus, patient, requester: zcc, owner }, { groupIdentifier: group }))));
    await heard(recvA, 'request A', (x) => x.overdracht_id === ta!.id);
    await heard(recvB, 'request B', (x) => x.overdracht_id === tb!.id);

    const accept = JSON.stringify([{ op: 'replace', path: '/status', value: 'accepted' }]);
    const [ra, rb] = await Promise.all([
      request(tg.app).patch(`/fhir/Task/${ta!.id}`).set('Authorization', await tg.auth('vvt-ijsseldelta')).set('Content-Type', 'application/json-patch+json').send(accept),
      request(tg.app).patch(`/fhir/Task/${tb!.id}`).set('Authorization', await tg.auth('vvt-sallandse-heuvelrug')).set('Content-Type', 'application/json-patch+json').send(accept),
    ]);
    expect([ra.status, rb.status].filter((s) => s === 200).length).toBe(1);
    const [winner, loser] = ra.status === 200 ? [{ id: ta!.id, r: recvA }, { id: tb!.id, r: recvB }] : [{ id: tb!.id, r: recvB }, { id: ta!.id, r: recvA }];
    expect((await task(loser.id, 'zcc-ijsselland')).statusReason?.text).toBe('not selected');
    const lost = await heard(loser.r, 'not selected', (x) => x.overdracht_id === loser.id && x.status === 'GEANNULEERD');
    expect(lost.annulering_reden).toBe('niet geselecteerd');
    await heard(winner.r, 'the acceptance', (x) => x.overdracht_id === winner.id && x.status !== 'AANGEVRAAGD');
    expect(records(winner.r).some((x) => x.status === 'GEANNULEERD')).toBe(false);
  });
});

describe('heartbeats', () => {
  it('come per heartbeatPeriod: a status Bundle in FHIR, an empty body with the type in a header natively', async () => {
    const fhir = await receiver();
    const nat = await receiver();
    const a = await subscribe(tg, 'vvt-ijsseldelta', fhir, `Task?owner=${URA}|${IJSSELDELTA}`, 'id-only', { heartbeat: 1 });
    const b = await subscribe(tg, 'vvt-ijsseldelta', nat, `Task?owner=${URA}|${IJSSELDELTA}`, 'application/x-vvt+json', { heartbeat: 1 });
    const beats = (r: Receiver, id: string): Received[] => r.received.filter((x) => x.type === 'heartbeat' && x.subscription === id);
    await fhir.waitFor(() => beats(fhir, a.id).length >= 2, 'two heartbeats');
    await nat.waitFor(() => beats(nat, b.id).length >= 2, 'two native heartbeats');
    const status = (JSON.parse(beats(fhir, a.id)[0]!.body) as Bundle).entry?.[0]?.resource as Parameters;
    expect(status.parameter?.find((p) => p.name === 'type')?.valueCode).toBe('heartbeat');
    expect(beats(nat, b.id)[0]!.body).toBe('');
    expect(beats(nat, b.id)[0]!.headers['x-notification-type']).toBe('heartbeat');
  });
});

describe('endpoints', () => {
  const post = async (body: unknown, client: 'hap-vechtdal' | 'rav-noordoost') =>
    request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));

  it('an organisation with an allow-list (HOOK_ALLOWED_ORIGINS) reaches only its listed origins', async () => {
    const refused = await post(subscriptionBody('https://hooks.elsewhere.example/x', undefined), 'rav-noordoost');
    expect([refused.status, refused.body.resourceType]).toEqual([422, 'OperationOutcome']);
    expect(JSON.stringify(refused.body)).toMatch(/allow-list/);
    const listed = await post(subscriptionBody('https://hooks.rav.example/notify', undefined), 'rav-noordoost');
    expect(listed.status).toBe(201);
    await request(tg.app).delete(`/fhir/Subscription/${(listed.body as Subscription).id}`).set('Authorization', await tg.auth('rav-noordoost'));
  });

  it('refuses a host name that resolves to a private or loopback address (no SSRF through DNS)', async () => {
    const res = await post(subscriptionBody('https://localhost:8443/hook', undefined), 'hap-vechtdal');
    expect([res.status, res.body.resourceType]).toEqual([422, 'OperationOutcome']);
    expect(JSON.stringify(res.body)).toMatch(/private, loopback or link-local/);
  });
});
