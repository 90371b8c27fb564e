// Notifications carry what the client sent (issue 16.3, 16.4): client meta and the text of decimals, in FHIR
// full-resource notifications and in native renderings.
import request from 'supertest';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import type { TestGateway } from '../support/gateway.ts';
import { example, setBsn, uniqueBsn, uniqueRide, withNativeGateway, type Native } from '../support/native.ts';
import { receiversForFile, subscribe } from '../support/receiver.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g), { ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
const receiver = receiversForFile();

describe('notifications keep client meta and decimals', () => {
  it('a full-resource notification carries the Task as sent: meta.tag, meta.security and a decimal as written', async () => {
    const rav = await receiver();
    await subscribe(tg, 'rav-noordoost', rav, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'full-resource');
    const auth = await tg.auth('hap-vechtdal');
    const post = async (type: string, text: string) =>
      request(tg.app).post(`/fhir/${type}`).set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(text);
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('rav-noordoost');
    const patient = `Patient/${(await post('Patient', JSON.stringify(buildPatient()))).body.id}`;
    const focus = `ServiceRequest/${(await post('ServiceRequest', JSON.stringify(buildServiceRequest({ patient, requester, performer: owner })))).body.id}`;
    const meta = { tag: [{ system: 'http://example.org/tags', code: 'fidelity' }], security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] };
    const task = JSON.stringify({ ...buildTask({ focus, patient, requester, owner }), meta });
    const text = `${task.slice(0, -1)},"input":[{"type":{"text":"score"},"valueDecimal":1.50}]}`;
    const created = await post('Task', text);
    expect(created.status).toBe(201);
    await rav.waitFor((r) => r.some((x) => x.type === 'event-notification' && x.body.includes(created.body.id)), 'the Task notification');
    const body = rav.events().find((x) => x.body.includes(created.body.id))?.body ?? '';
    expect(body).toContain('"valueDecimal":1.50');
    expect(body).toContain('"code":"fidelity"');
    expect(body).toContain('"code":"R"');
  });

  it('a native notification renders the decimals of a native record as the record wrote them', async () => {
    const rav = await receiver();
    await subscribe(tg, 'rav-noordoost', rav, 'Task?requester=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'application/x-ambulance+json');
    const record = { ...setBsn('ambulance', example('ambulance-niet-vervoerd-naar-hap'), uniqueBsn()), ...uniqueRide() };
    const text = JSON.stringify(record).replace('"hartfrequentie":88', '"hartfrequentie":88,"temperatuur":37.0');
    const res = await native.send('ambulance', text, 'rav-noordoost');
    expect(res.status).toBe(201);
    await rav.waitFor((r) => r.some((x) => x.type === 'event-notification' && x.body.includes(record.ritnummer)), 'the native notification');
    const body = rav.events().find((x) => x.body.includes(record.ritnummer))?.body ?? '';
    expect(body).toContain('"temperatuur":37.0');
  });
});
