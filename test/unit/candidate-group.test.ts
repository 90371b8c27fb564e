// Which group of candidates a Task is in (src/handover/candidate-group.ts), and the name the board shows for it:
// both follow one rule, so every Task with a group has a name, and only those.
import type { Task } from '@medplum/fhirtypes';
import { candidateGroup, candidateGroupName } from '../../src/handover/candidate-group.ts';

const TA = 'https://fhir.twiin.nl/ig/workflow/CodeSystem/ta-workflow';
const base: Task = { resourceType: 'Task', status: 'requested', intent: 'order', focus: { reference: 'ServiceRequest/sr-1' } };
const invitation: Task = { ...base, code: { coding: [{ system: TA, code: 'request-fulfillment' }] } };
const selected: Task = { ...base, code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] }, businessStatus: { coding: [{ system: TA, code: 'selected' }] } };

describe('candidateGroupName', () => {
  test.each<[string, Task, ReturnType<typeof candidateGroupName>]>([
    ['a groupIdentifier, whatever the Task', { ...base, groupIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:g-1' } }, { by: 'identifier', value: 'urn:uuid:g-1' }],
    ['a groupIdentifier on an invitation: the identifier decides', { ...invitation, groupIdentifier: { value: 'g-2' } }, { by: 'identifier', value: 'g-2' }],
    ['an invitation without one: its focus ServiceRequest', invitation, { by: 'request', value: 'ServiceRequest/sr-1' }],
    ['an absolute focus: the same request', { ...invitation, focus: { reference: 'https://gw.example/fhir/ServiceRequest/sr-1' } }, { by: 'request', value: 'ServiceRequest/sr-1' }],
    ['the selected candidate without one', selected, { by: 'request', value: 'ServiceRequest/sr-1' }],
    ['a region Task without one: no group', base, undefined],
    ['an invitation whose focus is no ServiceRequest: no group', { ...invitation, focus: { reference: 'Task/t-1' } }, undefined],
  ])('%s', (_what, task, name) => {
    expect(candidateGroupName(task)).toEqual(name);
    expect(candidateGroup(task) === undefined).toBe(name === undefined);
  });
});
