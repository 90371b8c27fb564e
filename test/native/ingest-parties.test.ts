// Who may send and answer what: wrong organisations, wrong patients, unknown receivers; S3 re-addressing, S5 cancelling;
// handovers rendered for their parties only.
import type { ServiceRequest, Task } from '@medplum/fhirtypes';
import type { TestGateway } from '../support/gateway.ts';
import { example, fillHandover, idFrom, refusal, setBsn, statusTrail, uniqueBsn, uniqueRide, withNativeGateway, type Native, type NativeRecord } from '../support/native.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
const U3 = 'nts-u3-naar-wijkverpleging.json';
const SALLAND = { soort: 'VVT', ura: '90007891', naam: 'Zorggroep Sallandse Heuvelrug' };

function rideAnswer(name: string, taskId: string, bsn: string, ride = uniqueRide()): NativeRecord {
  return fillHandover({ ...setBsn('ambulance', example(name), bsn), ...ride }, taskId);
}

async function task(id: string): Promise<Task> {
  return native.read<Task>(`Task/${id}`);
}

async function counts(): Promise<number[]> {
  return Promise.all(['Task', 'Patient', 'Encounter', 'ServiceRequest', 'Observation', 'Provenance'].map((t) => native.count(t)));
}

describe('senders and answerers', () => {
  it('refuses a record of the HAP sent with the token of another organisation (403), storing nothing', async () => {
    const record = { ...example(U1), contactId: `HAPV-${Date.now()}` };
    const before = await counts();
    const { text } = refusal(await native.send('nts', record, 'rav-noordoost'), [403]);
    expect(text).toContain('90001234');
    expect(await counts()).toEqual(before);
  });

  it('refuses an answer from an organisation that does not own the handover, and the Task stays as it was', async () => {
    const { taskId, bsn } = await native.createHandover(U3, 'hap-vechtdal');
    // Another VVT, sending its own (correctly signed) answer to IJsseldelta's handover.
    const answer = fillHandover({ ...setBsn('vvt', example('vvt-antwoord-ingepland'), bsn), vvt_ura: SALLAND.ura, vvt_naam: SALLAND.naam }, taskId);
    refusal(await native.send('vvt', answer, 'vvt-sallandse-heuvelrug'), [403, 404]);
    // The RAV, answering a handover addressed to a VVT.
    refusal(await native.send('ambulance', rideAnswer('ambulance-antwoord-geaccepteerd', taskId, bsn), 'rav-noordoost'), [403, 404]);
    const after = await task(taskId);
    expect(after.status).toBe('requested');
    expect(after.meta?.versionId).toBe('1');
  });

  it('refuses the requester answering its own handover (403)', async () => {
    const { taskId, record } = await native.createHandover(U1, 'hap-vechtdal');
    const answer: NativeRecord = { ...record, contactId: taskId, volgnummer: 1, overdrachtId: taskId, status: 'AFGEROND' };
    delete answer.overdracht;
    answer.triage = { ...record.triage, vervolgactie: 'CONSULT_HAP' };
    refusal(await native.send('nts', answer, 'hap-vechtdal'), [403, 404]);
    expect((await task(taskId)).status).toBe('requested');
  });

  it('refuses an answer naming another patient (422), and the Task stays as it was', async () => {
    const { taskId } = await native.createHandover(U1, 'hap-vechtdal');
    const { text } = refusal(await native.send('ambulance', rideAnswer('ambulance-antwoord-geaccepteerd', taskId, uniqueBsn()), 'rav-noordoost'), [422]);
    expect(text).toMatch(/bsn/i);
    const after = await task(taskId);
    expect(after.status).toBe('requested');
    expect(after.meta?.versionId).toBe('1');
  });

  it('refuses an answer to a handover that does not exist (404)', async () => {
    refusal(await native.send('ambulance', rideAnswer('ambulance-antwoord-geaccepteerd', 'no-such-handover', uniqueBsn()), 'rav-noordoost'), [404]);
  });

  it('refuses a receiver URA the gateway does not know (422), storing nothing', async () => {
    const before = await counts();
    const res = await native.send('nts', {
      ...setBsn('nts', example(U1), uniqueBsn()),
      contactId: `HAPV-unknown-${Date.now()}`,
      overdracht: { naar: { soort: 'RAV', ura: '90000000', naam: 'Onbekende RAV' }, toelichting: 'A1' },
    });
    const { text } = refusal(res, [422]);
    expect(text).toContain('90000000');
    expect(await counts()).toEqual(before);
  });
});

describe('S3: re-addressing', () => {
  it('cancels the open handover and addresses a new one in the same group', async () => {
    const { taskId, record } = await native.createHandover(U3, 'hap-vechtdal');
    const next = { ...record, volgnummer: record.volgnummer + 1, overdracht: { ...record.overdracht, naar: SALLAND } };
    const res = await native.send('nts', next);
    expect([200, 201]).toContain(res.status);
    const newId = idFrom(res.headers.location, 'Task');
    expect(newId).not.toBe(taskId);

    const old = await task(taskId);
    const fresh = await task(newId);
    expect(old.status).toBe('cancelled');
    expect(old.statusReason?.text).toBeTruthy();
    expect(fresh.status).toBe('requested');
    expect(fresh.owner?.reference).toBe(await tg.organizationRef('vvt-sallandse-heuvelrug'));
    expect(fresh.groupIdentifier).toEqual(old.groupIdentifier);
    expect(fresh.groupIdentifier?.value).toBeTruthy();
  });

  it('after a refusal, addresses the next candidate and leaves the refused Task in the trail', async () => {
    const { taskId, record, bsn } = await native.createHandover(U3, 'hap-vechtdal');
    const refused = fillHandover(setBsn('vvt', example('vvt-antwoord-afgewezen'), bsn), taskId);
    await native.sendOk('vvt', refused, 'vvt-ijsseldelta');
    expect((await task(taskId)).status).toBe('rejected');

    const next = { ...record, volgnummer: record.volgnummer + 1, overdracht: { ...record.overdracht, naar: SALLAND } };
    const res = await native.sendOk('nts', next);
    const newId = idFrom(res.headers.location, 'Task');
    expect(newId).not.toBe(taskId);
    const old = await task(taskId);
    expect(old.status).toBe('rejected');
    expect(old.statusReason?.text).toContain('Geen capaciteit');
    expect((await task(newId)).groupIdentifier).toEqual(old.groupIdentifier);
  });
});

describe('S5: cancelled before acceptance', () => {
  it('cancels the Task on GEANNULEERD; a later RAV acceptance is refused (422) and the Task stays cancelled', async () => {
    const { taskId, record, bsn } = await native.createHandover(U1, 'hap-vechtdal');
    const cancel = { ...record, volgnummer: record.volgnummer + 1, status: 'GEANNULEERD', redenAnnulering: 'Patiënt zelf naar SEH gebracht' };
    const res = await native.send('nts', cancel);
    expect(res.status).toBe(200);
    const cancelled = await task(taskId);
    expect(cancelled.status).toBe('cancelled');
    expect((await native.read<ServiceRequest>(cancelled.focus!.reference!)).status).toBe('revoked');

    const { text } = refusal(await native.send('ambulance', rideAnswer('ambulance-antwoord-geaccepteerd', taskId, bsn), 'rav-noordoost'), [422]);
    expect(text).toMatch(/cancelled/);
    const after = await task(taskId);
    expect(after.status).toBe('cancelled');
    expect(after.meta?.versionId).toBe(cancelled.meta?.versionId);
  });

  it('refuses a cancel once the RAV has started (422), and the ride goes on', async () => {
    const { taskId, record, bsn } = await native.createHandover(U1, 'hap-vechtdal');
    await native.sendOk('ambulance', { ...rideAnswer('ambulance-antwoord-geaccepteerd', taskId, bsn), status: 'ONDERWEG' }, 'rav-noordoost');
    expect((await task(taskId)).status).toBe('in-progress');
    const cancel = { ...record, volgnummer: record.volgnummer + 1, status: 'GEANNULEERD' };
    refusal(await native.send('nts', cancel), [422]);
    expect(statusTrail(await native.history(`Task/${taskId}`))).toEqual(['requested', 'accepted', 'in-progress']);
  });
});

describe('rendered handovers', () => {
  it('renders the request for the RAV, the feedback for the HAP, and nothing for anyone else', async () => {
    const { taskId, bsn } = await native.createHandover(U1, 'hap-vechtdal');

    const forRav = await native.get(`/native/ambulance/${taskId}`, 'rav-noordoost');
    expect(forRav.status).toBe(200);
    const ride = JSON.parse(forRav.text) as NativeRecord;
    expect(ride).toMatchObject({ status: 'AANGEVRAAGD', urgentie: 'A1', overdrachtId: taskId });
    expect(ride.rav?.ura).toBe('90004567');
    expect(ride.patient?.bsn).toBe(bsn);

    const rideNumbers = uniqueRide();
    await native.sendOk('ambulance', rideAnswer('ambulance-antwoord-geaccepteerd', taskId, bsn, rideNumbers), 'rav-noordoost');
    const forHap = await native.get(`/native/nts/${taskId}`, 'hap-vechtdal');
    expect(forHap.status).toBe(200);
    const contact = JSON.parse(forHap.text) as NativeRecord;
    expect(contact.overdracht?.terugkoppeling).toMatchObject({ status: 'GEACCEPTEERD', referentie: rideNumbers.ritnummer });

    for (const format of ['ambulance', 'nts', 'vvt'] as const) {
      const res = await native.get(`/native/${format}/${taskId}`, 'vvt-ijsseldelta');
      expect({ format, status: res.status }).toEqual({ format, status: 404 });
      expect(res.text).not.toContain(bsn);
    }
  });
});
