// Which of a native record's resources are given the receiver as they are written (src/handover/ingest-parties.ts):
// only what the record's Task reaches, and only when the Task is owned by that receiver.
import type { Observation, Task } from '@medplum/fhirtypes';
import { aheadPlan } from '../../src/handover/ingest-parties.ts';
import type { MappedRecord } from '../../src/native/types.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const urls = { patient: 'urn:uuid:p', encounter: 'urn:uuid:e', serviceRequest: 'urn:uuid:s', task: 'urn:uuid:t' };
const observation = (encounter: string): Observation => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, encounter: { reference: encounter } });

const task: Task = {
  resourceType: 'Task',
  status: 'requested',
  intent: 'order',
  for: { reference: urls.patient },
  focus: { reference: urls.serviceRequest },
  encounter: { reference: urls.encounter },
  owner: { reference: `Organization?identifier=${URA}|90004567` },
};

function record(change: Partial<MappedRecord> = {}): MappedRecord {
  return {
    format: 'nts',
    kind: 'request',
    senderUra: '90001234',
    recordId: 'C-1',
    sequence: 1,
    patient: { resourceType: 'Patient' },
    encounter: { resourceType: 'Encounter', status: 'finished', class: { code: 'EMER' } },
    serviceRequest: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: urls.patient } },
    task,
    observations: [observation(urls.encounter), observation('urn:uuid:other')],
    fullUrls: urls,
    receiver: { ura: '90004567', kind: 'RAV' },
    ...change,
  };
}

test("a request to a receiver gives it the Task's patient, request, encounter and that encounter's findings", () => {
  expect(aheadPlan(record())).toEqual({ uras: ['90004567'], patient: true, encounter: true, serviceRequest: true, observations: [true, false] });
});

test('nothing ahead without a receiver, for a withdrawal, for an answer, or when the Task is owned by someone else', () => {
  const none = { uras: [], patient: false, encounter: false, serviceRequest: false, observations: [false, false] };
  expect(aheadPlan(record({ receiver: undefined }))).toEqual(none);
  expect(aheadPlan(record({ cancelled: {} }))).toEqual(none);
  expect(aheadPlan(record({ kind: 'answer' }))).toEqual(none);
  expect(aheadPlan(record({ task: { ...task, owner: { reference: `Organization?identifier=${URA}|90009999` } } }))).toEqual(none);
  expect(aheadPlan(record({ serviceRequest: undefined }))).toEqual(none);
});

test('a resource the Task does not point at is left to the usual way', () => {
  const elsewhere = { ...task, encounter: undefined, for: { reference: 'Patient/elsewhere' } };
  expect(aheadPlan(record({ task: elsewhere }))).toEqual({ uras: ['90004567'], patient: false, encounter: false, serviceRequest: true, observations: [false, false] });
});
