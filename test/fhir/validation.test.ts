import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { loadProfileValidator } from '../../src/fhir/validation/index.ts';
import type { ProfileValidator } from '../../src/fhir/validation/index.ts';
import { baseDefinitions } from '../../src/fhir/validation/definitions.ts';
import { withSnapshot } from '../../src/fhir/validation/snapshot.ts';
import { BSN, SD, validEncounter, validPatient, validServiceRequest, validTask } from './validation-fixtures.ts';

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles');

let validator: ProfileValidator;
beforeAll(() => {
  // Invariants run with both FHIRPath evaluators here: a difference fails the test that met it.
  validator = loadProfileValidator(PROFILES, { verifyFastPath: true });
});

/** Applies a change to a copy of a valid resource. */
function changed<T extends Resource>(make: () => T, change: (r: any) => void): T {
  const r = make();
  change(r);
  return r;
}

function expressions(issues: OperationOutcomeIssue[]): string[] {
  return issues.flatMap((i) => i.expression ?? []);
}

function expectIssue(issues: OperationOutcomeIssue[], expression: string, code?: string): void {
  const found = issues.find((i) => i.expression?.includes(expression) && (!code || i.code === code));
  if (!found) throw new Error(`expected an issue at ${expression}${code ? ` (${code})` : ''}, got ${JSON.stringify(issues, null, 1)}`);
  expect(found.severity).toBe('error');
  expect(found.diagnostics).toBeTruthy();
}

describe('profiles on disk', () => {
  test('every profile is loaded and applies to its type', () => {
    expect(validator.profileFor('Task')?.url).toBe(`${SD}handover-task`);
    expect(validator.profileFor('Encounter')?.url).toBe(`${SD}handover-encounter`);
    expect(validator.profileFor('ServiceRequest')?.url).toBe(`${SD}handover-servicerequest`);
    expect(validator.profileFor('Patient')?.url).toBe(`${SD}nl-patient`);
    expect(validator.profileFor('Extension')).toBeUndefined();
    expect(validator.profileFor('Observation')).toBeUndefined();
    expect(validator.profiles.map((p) => p.url).sort()).toEqual(
      ['handover-encounter', 'handover-servicerequest', 'handover-task', 'native-code', 'nl-patient', 'owner-healthcareservice', 'ride-status-times'].map((n) => SD + n),
    );
  });

  test('committed snapshots are what the generator makes from the differential', () => {
    const base = baseDefinitions();
    for (const file of readdirSync(PROFILES).filter((f) => f.endsWith('.json'))) {
      const sd = JSON.parse(readFileSync(join(PROFILES, file), 'utf8')) as StructureDefinition;
      expect(sd.differential?.element?.length).toBeGreaterThan(0);
      expect(sd.derivation).toBe('constraint');
      expect(sd.url?.startsWith(SD)).toBe(true);
      expect(withSnapshot(sd, (url) => base.structureDefinition(url))).toEqual(sd);
    }
  });
});

describe('valid handover resources pass', () => {
  test.each([
    ['Task', validTask],
    ['ServiceRequest', validServiceRequest],
    ['Encounter', validEncounter],
    ['Patient', validPatient],
  ] as const)('%s', (_type, make) => {
    expect(validator.validate(make())).toEqual([]);
  });

  test('a patient without BSN or birth date (unknown patient) passes', () => {
    const unknown = changed(validPatient, (p) => {
      delete p.identifier;
      delete p.birthDate;
      p.name = [{ text: 'Onbekende man' }];
      p.gender = 'unknown';
    });
    expect(validator.validate(unknown)).toEqual([]);
  });

  test('references by urn:uuid, absolute URL, contained id and conditional reference are accepted', () => {
    const task = changed(validTask, (t) => {
      t.focus = { reference: 'urn:uuid:0b5a3c61-2a4f-4a53-9d0e-3b8e1d2c4f55' };
      t.for = { reference: 'https://gateway.example/fhir/Patient/p-1/_history/3' };
      t.contained = [{ resourceType: 'Organization', id: 'rav', name: 'RAV Noordoost' }];
      t.owner = { reference: '#rav' };
      t.requester = { reference: 'Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|90001234' };
    });
    expect(validator.validate(task)).toEqual([]);
  });

  test('validation leaves the resource untouched', () => {
    const task = validTask();
    const copy = structuredClone(task);
    validator.validate(task);
    expect(task).toEqual(copy);
  });
});

describe('handover Task constraints', () => {
  test.each([
    ['status missing', (t: any) => delete t.status, 'Task.status', undefined],
    ['status not a task status', (t: any) => (t.status = 'bogus'), 'Task.status', 'value'],
    // intent, code and for are rules over several elements since Twiin's Tasks (issue 18): invariants on Task.
    ['intent not order', (t: any) => (t.intent = 'plan'), 'Task', 'invariant'],
    ['code missing', (t: any) => delete t.code, 'Task.code', 'required'],
    ['code not fulfill, request-fulfillment or abort', (t: any) => (t.code = { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'approve' }] }), 'Task', 'invariant'],
    ['code abort with focus a ServiceRequest', (t: any) => (t.code = { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'abort' }] }), 'Task', 'invariant'],
    ['focus missing', (t: any) => delete t.focus, 'Task.focus', 'required'],
    ['focus not a ServiceRequest', (t: any) => (t.focus = { reference: 'Observation/o1' }), 'Task.focus', 'invalid'],
    ['for missing', (t: any) => delete t.for, 'Task', 'invariant'],
    ['for not a Patient', (t: any) => (t.for = { reference: 'Group/g1' }), 'Task.for', 'invalid'],
    ['requester missing', (t: any) => delete t.requester, 'Task.requester', 'required'],
    ['requester not an Organization', (t: any) => (t.requester = { reference: 'Practitioner/x' }), 'Task.requester', 'invalid'],
    ['owner missing', (t: any) => delete t.owner, 'Task.owner', 'required'],
    ['owner not an Organization (conditional)', (t: any) => (t.owner = { reference: 'Patient?identifier=x|1' }), 'Task.owner', 'invalid'],
    ['owner naming no target', (t: any) => (t.owner = { display: 'RAV' }), 'Task.owner', 'invalid'],
    ['owner with a wrong type', (t: any) => (t.owner = { type: 'Patient', identifier: { value: '1' } }), 'Task.owner', 'invalid'],
    ['authoredOn missing', (t: any) => delete t.authoredOn, 'Task.authoredOn', 'required'],
    ['identifier with a wrong use', (t: any) => (t.identifier = [{ use: 'primary', value: 'x' }]), 'Task.identifier[0].use', 'value'],
  ])('%s', (_what, change, expression, code) => {
    const issues = validator.validate(changed(validTask, change));
    expectIssue(issues, expression, code);
  });

  test('only the broken element is reported', () => {
    const issues = validator.validate(changed(validTask, (t) => delete t.owner));
    expect(expressions(issues)).toEqual(['Task.owner']);
  });

  test.each(['rejected', 'cancelled', 'failed'])('status %s needs a statusReason', (status) => {
    const without = changed(validTask, (t) => (t.status = status));
    const all = validator.validate(without);
    const issues = all.filter((i) => i.severity === 'error');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ code: 'invariant', expression: ['Task'] });
    expect(issues[0].diagnostics).toContain('hgw-task-1');
    // The Twiin IG's SHOULD (twiin-ct-5) beside it, as a warning: for rejected and cancelled, not failed.
    const warnings = all.filter((i) => i.severity === 'warning').map((i) => i.diagnostics ?? '');
    expect(warnings.map((d) => d.includes('(twiin-ct-5)'))).toEqual(status === 'failed' ? [] : [true]);
    const withReason = changed(validTask, (t) => {
      t.status = status;
      t.statusReason = { text: 'Geen capaciteit' };
    });
    expect(validator.validate(withReason)).toEqual([]);
    // A coded reason without words: valid, with the IG's twiin-task-1 warning (statusReason.text SHOULD be there).
    const coded = changed(validTask, (t) => {
      t.status = status;
      t.statusReason = { coding: [{ system: 'http://example.org/reason', code: 'no-capacity' }] };
    });
    expect(validator.validate(coded).map((i) => [i.severity, i.diagnostics?.includes('(twiin-task-1)')])).toEqual([['warning', true]]);
  });

  test('other statuses need no statusReason', () => {
    for (const status of ['accepted', 'in-progress', 'completed']) {
      expect(validator.validate(changed(validTask, (t) => (t.status = status)))).toEqual([]);
    }
  });

  test('unknown elements are still refused by base validation', () => {
    expectIssue(validator.validate(changed(validTask, (t) => (t.foo = 1))), 'Task.foo');
  });
});

describe('handover ServiceRequest constraints', () => {
  test.each([
    ['code missing', (s: any) => delete s.code, 'ServiceRequest.code', 'required'],
    ['subject not a Patient', (s: any) => (s.subject = { reference: 'Location/l' }), 'ServiceRequest.subject', 'invalid'],
    ['priority not a request priority', (s: any) => (s.priority = 'whenever'), 'ServiceRequest.priority', 'value'],
    ['status not a request status', (s: any) => (s.status = 'open'), 'ServiceRequest.status', 'value'],
    ['intent not a request intent', (s: any) => (s.intent = 'wish'), 'ServiceRequest.intent', 'value'],
  ])('%s', (_what, change, expression, code) => {
    expectIssue(validator.validate(changed(validServiceRequest, change)), expression, code);
  });

  test('the native urgency code must be a Coding', () => {
    const wrong = changed(validServiceRequest, (s) => (s._priority.extension[0] = { url: `${SD}native-code`, valueString: 'U1' }));
    const issues = validator.validate(wrong);
    expectIssue(issues, 'ServiceRequest.priority.extension[0].valueString', 'invalid');
  });

  test('the native code extension may appear at most once on the priority', () => {
    const twice = changed(validServiceRequest, (s) => s._priority.extension.push(structuredClone(s._priority.extension[0])));
    expectIssue(validator.validate(twice), `ServiceRequest.priority.extension('${SD}native-code')`, 'invalid');
  });

  test('the native code extension needs a value', () => {
    const empty = changed(validServiceRequest, (s) => (s._priority.extension[0] = { url: `${SD}native-code`, extension: [{ url: 'x', valueString: 'y' }] }));
    const issues = validator.validate(empty);
    expectIssue(issues, 'ServiceRequest.priority.extension[0].value', 'required');
    expectIssue(issues, 'ServiceRequest.priority.extension[0].extension', 'invalid');
  });

  test('the native code extension is checked wherever it is used', () => {
    const onTask = changed(validTask, (t) => (t.businessStatus = { text: 'AANGEVRAAGD', extension: [{ url: `${SD}native-code`, valueInteger: 3 }] }));
    expectIssue(validator.validate(onTask), 'Task.businessStatus.extension[0].valueInteger', 'invalid');
  });
});

describe('handover Encounter constraints', () => {
  test.each([
    ['subject missing', (e: any) => delete e.subject, 'Encounter.subject', 'required'],
    ['subject not a Patient', (e: any) => (e.subject = { reference: 'Group/g' }), 'Encounter.subject', 'invalid'],
    ['serviceProvider not an Organization', (e: any) => (e.serviceProvider = { reference: 'Location/x' }), 'Encounter.serviceProvider', 'invalid'],
    ['status not an encounter status', (e: any) => (e.status = 'riding'), 'Encounter.status', 'value'],
    ['status time of the wrong type', (e: any) => (e.extension[0].extension[0] = { url: 'melding', valueString: '21:06' }), 'Encounter.extension[0].extension[0].valueString', 'invalid'],
    ['status time given twice', (e: any) => e.extension[0].extension.push({ url: 'melding', valueDateTime: '2025-03-14T21:06:30+01:00' }), 'Encounter.extension[0].extension', 'invalid'],
    ['status times without any time', (e: any) => (e.extension[0].extension = undefined), 'Encounter.extension[0].extension', 'required'],
    ['status times with a value of their own', (e: any) => (e.extension[0].valueString = 'x'), 'Encounter.extension[0].valueString', 'invalid'],
  ])('%s', (_what, change, expression, code) => {
    expectIssue(validator.validate(changed(validEncounter, change)), expression, code);
  });

  test('ride status times appear at most once', () => {
    const twice = changed(validEncounter, (e) => e.extension.push(structuredClone(e.extension[0])));
    expectIssue(validator.validate(twice), `Encounter.extension('${SD}ride-status-times')`, 'invalid');
  });
});

// Rule review (issue 16.5, profiles/README.md): valid national material leaves these out, and the handover works without them.
describe('what the profiles no longer refuse', () => {
  test.each([
    ['a ServiceRequest without performer', () => changed(validServiceRequest, (s) => delete s.performer)],
    ['a ServiceRequest without requester (the Task names who asks)', () => changed(validServiceRequest, (s) => delete s.requester)],
    ['a ServiceRequest performed by a HealthcareService', () => changed(validServiceRequest, (s) => (s.performer = [{ reference: 'HealthcareService/ambulancezorg' }]))],
    ['a ServiceRequest performed by a Practitioner', () => changed(validServiceRequest, (s) => (s.performer = [{ reference: 'Practitioner/p' }]))],
    ['a ServiceRequest without priority (FHIR: routine when missing)', () => changed(validServiceRequest, (s) => { delete s.priority; delete s._priority; })],
    ['an Encounter without identifier', () => changed(validEncounter, (e) => delete e.identifier)],
    ['an Encounter without serviceProvider', () => changed(validEncounter, (e) => delete e.serviceProvider)],
    ['a Patient without name (not yet identified)', () => changed(validPatient, (p) => delete p.name)],
    ['a Patient without gender', () => changed(validPatient, (p) => delete p.gender)],
  ])('%s is valid', (_what, make) => {
    expect(validator.validate(make())).toEqual([]);
  });

  test('a rule kept says in its message what to send', () => {
    const issues = validator.validate(changed(validTask, (t) => delete t.owner));
    expect(issues.find((i) => i.expression?.includes('Task.owner'))?.diagnostics).toBe(
      'Task.owner is required but is missing. The receiving organisation is the one notified that may accept: send owner = Reference(Organization) of the receiver, or (Twiin TA Workflow) its HealthcareService of the directory, by reference or identifier; the organisation providing that service receives.',
    );
  });
});

describe('nl-patient constraints', () => {
  test.each([
    ['gender not an administrative gender', (p: any) => (p.gender = 'M'), 'Patient.gender', 'value'],
    ['BSN of 8 digits', (p: any) => (p.identifier[0].value = '11122233'), 'Patient.identifier[0]', 'invariant'],
    ['BSN failing the 11-proof', (p: any) => (p.identifier[0].value = '111222334'), 'Patient.identifier[0]', 'invariant'],
    ['BSN without value', (p: any) => delete p.identifier[0].value, 'Patient.identifier[0].value', 'required'],
    ['two BSNs', (p: any) => p.identifier.push({ system: BSN, value: '123456782' }), 'Patient.identifier', 'invalid'],
    ['own-prefix extension of the wrong type', (p: any) => (p.name[0]._family.extension[0] = { url: 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix', valueCoding: { code: 'de' } }), 'Patient.name[0].family.extension[0].valueCoding', 'invalid'],
  ])('%s', (_what, change, expression, code) => {
    expectIssue(validator.validate(changed(validPatient, change)), expression, code);
  });

  test('the 11-proof accepts valid BSNs and only applies to the BSN system', () => {
    for (const bsn of ['123456782', '999999990', '111222333']) {
      expect(validator.validate(changed(validPatient, (p) => (p.identifier[0].value = bsn)))).toEqual([]);
    }
    const other = changed(validPatient, (p) => p.identifier.push({ system: 'urn:oid:1.2.3', value: '12' }));
    expect(validator.validate(other)).toEqual([]);
  });

  test('the BSN diagnostics say which rule failed', () => {
    const [digits] = validator.validate(changed(validPatient, (p) => (p.identifier[0].value = '1112223')));
    expect(digits.diagnostics).toContain('nl-bsn-1');
    const [proof] = validator.validate(changed(validPatient, (p) => (p.identifier[0].value = '111222334')));
    expect(proof.diagnostics).toContain('nl-bsn-2');
  });
});

describe('validateAgainst', () => {
  test('validates against a named profile', () => {
    expect(validator.validateAgainst(validTask(), `${SD}handover-task|0.1.0`)).toEqual([]);
    expectIssue(validator.validateAgainst(changed(validTask, (t) => delete t.owner), `${SD}handover-task`), 'Task.owner', 'required');
  });

  test('refuses an unknown profile or one for another type', () => {
    expect(validator.validateAgainst(validTask(), `${SD}nope`)[0]).toMatchObject({ code: 'not-found' });
    expect(validator.validateAgainst(validTask(), `${SD}nl-patient`)[0]).toMatchObject({ code: 'invalid' });
  });
});

describe('loading profile directories', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'profiles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function taskProfile(extra: object[] = [], url = 'https://example.org/StructureDefinition/test-task'): StructureDefinition {
    const sd = {
      resourceType: 'StructureDefinition',
      url,
      name: 'TestTask',
      status: 'draft',
      kind: 'resource',
      abstract: false,
      type: 'Task',
      baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Task',
      derivation: 'constraint',
      differential: { element: [{ id: 'Task', path: 'Task' }, ...extra] },
    } as StructureDefinition;
    const base = baseDefinitions();
    return withSnapshot(sd, (u) => base.structureDefinition(u));
  }

  function write(name: string, content: unknown): string {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  test('a required extension is reported when the resource has no extension at all', () => {
    copyFileSync(join(PROFILES, 'native-code.json'), join(dir, 'native-code.json'));
    write('task.json', taskProfile([
      { id: 'Task.extension:native', path: 'Task.extension', sliceName: 'native', min: 1, max: '1', type: [{ code: 'Extension', profile: [`${SD}native-code`] }] },
    ]));
    const v = loadProfileValidator(dir);
    const task = validTask();
    const issues = v.validate(task);
    expect(issues).toEqual([expect.objectContaining({ code: 'required', expression: [`Task.extension('${SD}native-code')`] })]);
    task.extension = [{ url: `${SD}native-code`, valueCoding: { code: 'AANGEVRAAGD' } }];
    expect(v.validate(task)).toEqual([]);
  });

  test('a closed slicing refuses items matching no slice', () => {
    write('task.json', taskProfile([
      { id: 'Task.identifier', path: 'Task.identifier', slicing: { discriminator: [{ type: 'value', path: 'system' }], rules: 'closed' } },
      { id: 'Task.identifier:local', path: 'Task.identifier', sliceName: 'local', min: 0, max: '*' },
      { id: 'Task.identifier:local.system', path: 'Task.identifier.system', min: 1, fixedUri: 'urn:local' },
    ]));
    const v = loadProfileValidator(dir);
    expect(v.validate({ resourceType: 'Task', status: 'draft', intent: 'order', identifier: [{ system: 'urn:local', value: '1' }] })).toEqual([]);
    expectIssue(v.validate({ resourceType: 'Task', status: 'draft', intent: 'order', identifier: [{ system: 'urn:other', value: '1' }] }), 'Task.identifier[0]', 'invalid');
  });

  test('a required binding to a local value set is enforced', () => {
    write('vs.json', { resourceType: 'ValueSet', url: 'https://example.org/vs', status: 'active', compose: { include: [{ system: 'https://example.org/cs', concept: [{ code: 'a' }] }] } });
    write('task.json', taskProfile([
      { id: 'Task.businessStatus', path: 'Task.businessStatus', binding: { strength: 'required', valueSet: 'https://example.org/vs' } },
    ]));
    const v = loadProfileValidator(dir);
    const ok = { resourceType: 'Task', status: 'draft', intent: 'order', businessStatus: { coding: [{ system: 'https://example.org/cs', code: 'a' }] } } as Resource;
    expect(v.validate(ok)).toEqual([]);
    const bad = { ...ok, businessStatus: { coding: [{ system: 'https://example.org/cs', code: 'b' }] } } as Resource;
    expectIssue(v.validate(bad), 'Task.businessStatus', 'value');
  });

  const refusals: [string, (file: string) => void, RegExp][] = [
    ['invalid JSON', (f) => writeFileSync(f, '{ "resourceType": '), /not valid JSON/],
    ['no snapshot', (f) => writeFileSync(f, JSON.stringify({ ...taskProfile(), snapshot: undefined })), /no snapshot/],
    ['an unknown base', (f) => writeFileSync(f, JSON.stringify({ ...taskProfile(), baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Taks' })), /unknown base/],
    ['a specialization', (f) => writeFileSync(f, JSON.stringify({ ...taskProfile(), derivation: 'specialization' })), /derivation/],
    ['an invariant that does not compile', (f) => writeFileSync(f, JSON.stringify(taskProfile([
      { id: 'Task', path: 'Task', constraint: [{ key: 'bad-1', severity: 'error', human: 'broken', expression: "status = 'a' and (" }] },
    ]))), /bad-1.*does not compile/],
    ['an unknown target profile', (f) => writeFileSync(f, JSON.stringify(taskProfile([
      { id: 'Task.owner', path: 'Task.owner', type: [{ code: 'Reference', targetProfile: ['https://example.org/StructureDefinition/nothing'] }] },
    ]))), /targetProfile/],
    ['a required binding that cannot be expanded', (f) => writeFileSync(f, JSON.stringify(taskProfile([
      { id: 'Task.businessStatus', path: 'Task.businessStatus', binding: { strength: 'required', valueSet: 'https://example.org/missing' } },
    ]))), /cannot be expanded/],
    ['an undefined extension', (f) => writeFileSync(f, JSON.stringify(taskProfile([
      { id: 'Task.extension:x', path: 'Task.extension', sliceName: 'x', min: 1, max: '1', type: [{ code: 'Extension', profile: ['https://example.org/StructureDefinition/none'] }] },
    ]))), /not defined/],
  ];
  test.each(refusals)('a profile file with %s is refused, naming the file', (_what, make, message) => {
    const file = join(dir, 'broken.json');
    make(file);
    expect(() => loadProfileValidator(dir)).toThrow(message);
    expect(() => loadProfileValidator(dir)).toThrow(file);
  });

  test('two profiles for the same type are refused', () => {
    write('a.json', taskProfile([], 'https://example.org/StructureDefinition/a'));
    write('b.json', taskProfile([], 'https://example.org/StructureDefinition/b'));
    expect(() => loadProfileValidator(dir)).toThrow(/second profile for Task/);
  });
});
