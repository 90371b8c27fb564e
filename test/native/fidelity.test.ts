// What native records send is kept (issue 16.3, 16.4): a temperature of 37.0 sent by the ambulance is 37.0 in the
// stored Observation, in FHIR reads and in the native rendering; a record updating a resource keeps its client meta.
import type { Observation, Patient, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import type { TestGateway } from '../support/gateway.ts';
import { example, idFrom, setBsn, uniqueBsn, uniqueRide, withNativeGateway, type Native } from '../support/native.ts';

let native: Native;
let tg: TestGateway;
withNativeGateway((g) => ({ native, tg } = g));

describe('native records: decimals and client meta', () => {
  it('keep their text from the record to the Observation and back to the native rendering', async () => {
    const record = { ...setBsn('ambulance', example('ambulance-niet-vervoerd-naar-hap'), uniqueBsn()), ...uniqueRide() };
    // Numbers spliced in as text, as a client writes them (JSON.stringify would write 37.0 as 37).
    const text = JSON.stringify(record)
      .replace('"hartfrequentie":88', '"hartfrequentie":88,"temperatuur":37.0,"glucose":5.50')
      .replace('"lat":52.5126', '"lat":52.51260');
    expect(text).toContain('"temperatuur":37.0');
    const res = await native.send('ambulance', text, 'rav-noordoost');
    expect(res.status).toBe(201);
    const taskId = idFrom(res.headers.location, 'Task');
    const task = await native.read<Task>(`Task/${taskId}`, 'rav-noordoost');

    const observations = await native.search<Observation>('Observation', { patient: task.for?.reference ?? '' }, 'rav-noordoost');
    const temperature = observations.find((o) => o.code.coding?.some((c) => c.code === '8310-5'));
    expect(temperature?.valueQuantity?.value).toBe(37);
    const read = await native.get(`/fhir/Observation/${temperature?.id}`, 'rav-noordoost');
    expect(read.text).toContain('"value":37.0');
    expect((await native.get(`/fhir/Observation?patient=${task.for?.reference}&code=http://loinc.org|8310-5`, 'rav-noordoost')).text).toContain('"value":37.0');

    const rendered = await native.get(`/native/ambulance/${taskId}`, 'rav-noordoost');
    expect(rendered.status).toBe(200);
    expect(rendered.text).toContain('"temperatuur":37.0');
    expect(rendered.text).toContain('"glucose":5.50');
    expect(rendered.text).toContain('"lat":52.51260');
    // Numbers the record wrote as JavaScript does are untouched.
    expect(rendered.text).toContain('"hartfrequentie":88');
  });

  it('a later record that updates a resource keeps the tags and security labels a FHIR client put on it (the mappings set no meta)', async () => {
    const bsn = uniqueBsn();
    const first = await native.sendOk('ambulance', { ...setBsn('ambulance', example('ambulance-niet-vervoerd-naar-hap'), bsn), ...uniqueRide() }, 'rav-noordoost');
    const task = await native.read<Task>(`Task/${idFrom(first.headers.location, 'Task')}`, 'rav-noordoost');
    const patient = await native.read<Patient>(task.for?.reference ?? '', 'rav-noordoost');
    const meta = { tag: [{ system: 'http://example.org/tags', code: 'vip' }], security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'V' }] };
    const tagged = await request(tg.app)
      .put(`/fhir/Patient/${patient.id}`)
      .set('Authorization', await tg.auth('rav-noordoost'))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ ...patient, meta }));
    expect(tagged.status).toBe(200);

    const renamed = setBsn('ambulance', example('ambulance-niet-vervoerd-naar-hap'), bsn);
    renamed.patient.naam = 'B. Anders';
    const second = await native.sendOk('ambulance', { ...renamed, ...uniqueRide() }, 'rav-noordoost');
    const secondTask = await native.read<Task>(`Task/${idFrom(second.headers.location, 'Task')}`, 'rav-noordoost');
    expect(secondTask.for?.reference).toBe(task.for?.reference);
    const after = await native.read<Patient>(task.for?.reference ?? '', 'rav-noordoost');
    expect(Number(after.meta?.versionId)).toBeGreaterThan(Number(tagged.body.meta.versionId));
    expect(JSON.stringify(after.name)).toContain('Anders');
    expect(after.meta?.tag).toEqual(meta.tag);
    expect(after.meta?.security).toEqual(meta.security);
  });
});
