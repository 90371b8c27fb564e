// Every FHIR route the gateway registers, with the interaction, type and access it declared. The router refuses a
// route without metadata (test/fhir/router.test.ts); this list makes every new route, and every change of who may
// call one, show in review: a route added or changed without updating it fails here, naming it.
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** method, pattern, interaction, type, access (`scope <letters>` on the type, `+ Type.letter` also needed). */
const EXPECTED: [string, string, string, string, string][] = [
    ['GET', 'metadata', 'capabilities', '', 'public'],
    ['POST', '', 'transaction', '', 'authenticated'],
    ['GET', 'CodeSystem', 'search-type', 'CodeSystem', 'scope s'],
    ['GET', 'CodeSystem/:id', 'read', 'CodeSystem', 'scope r'],
    ['GET', 'ConceptMap', 'search-type', 'ConceptMap', 'scope s'],
    ['GET', 'ConceptMap/:id', 'read', 'ConceptMap', 'scope r'],
    ['GET', 'ConceptMap/$translate', 'operation', 'ConceptMap', 'scope r'],
    ['POST', 'ConceptMap/$translate', 'operation', 'ConceptMap', 'scope r'],
    ['GET', 'ConceptMap/:id/$translate', 'operation', 'ConceptMap', 'scope r'],
    ['POST', 'ConceptMap/:id/$translate', 'operation', 'ConceptMap', 'scope r'],
    ['POST', ':type/$validate', 'operation', ':type', 'scope c|u'],
    ['GET', 'SubscriptionTopic', 'search-type', 'SubscriptionTopic', 'authenticated'],
    ['GET', 'SubscriptionTopic/:id', 'read', 'SubscriptionTopic', 'authenticated'],
    ['GET', 'Basic', 'search-type', 'Basic', 'authenticated'],
    ['GET', 'Basic/:id', 'read', 'Basic', 'authenticated'],
    ['GET', 'StructureDefinition', 'search-type', 'StructureDefinition', 'authenticated'],
    ['POST', '$process-message', 'operation', 'MessageHeader', 'scope c + Patient.c + Practitioner.c + PractitionerRole.c + Composition.c + DocumentReference.c + ServiceRequest.c + Task.c + Patient.u'],
    ['POST', 'Bundle', 'operation', 'MessageHeader', 'scope c + Patient.c + Practitioner.c + PractitionerRole.c + Composition.c + DocumentReference.c + ServiceRequest.c + Task.c + Patient.u'],
    ['GET', 'StructureDefinition/:id', 'read', 'StructureDefinition', 'authenticated'],
    ['GET', 'SearchParameter', 'search-type', 'SearchParameter', 'authenticated'],
    ['GET', 'SearchParameter/:id', 'read', 'SearchParameter', 'authenticated'],
    ['GET', 'OperationDefinition', 'search-type', 'OperationDefinition', 'authenticated'],
    ['GET', 'OperationDefinition/:id', 'read', 'OperationDefinition', 'authenticated'],
    ['POST', 'Subscription', 'create', 'Subscription', 'scope c'],
    ['GET', 'Subscription', 'search-type', 'Subscription', 'scope s'],
    ['GET', 'Subscription/:id', 'read', 'Subscription', 'scope r'],
    ['PUT', 'Subscription/:id', 'update', 'Subscription', 'scope u'],
    ['PATCH', 'Subscription/:id', 'patch', 'Subscription', 'scope u'],
    ['DELETE', 'Subscription/:id', 'delete', 'Subscription', 'scope d'],
    ['GET', 'Subscription/:id/$status', 'operation', 'Subscription', 'scope r'],
    ['POST', 'Subscription/:id/$status', 'operation', 'Subscription', 'scope r'],
    ['GET', 'Subscription/$status', 'operation', 'Subscription', 'scope r'],
    ['POST', 'Subscription/$status', 'operation', 'Subscription', 'scope r'],
    ['GET', 'Subscription/:id/$events', 'operation', 'Subscription', 'scope r'],
    ['POST', 'Subscription/:id/$events', 'operation', 'Subscription', 'scope r'],
    ['GET', 'AuditEvent/$verify', 'operation', 'AuditEvent', 'auditor'],
    ['POST', 'AuditEvent/$verify', 'operation', 'AuditEvent', 'auditor'],
    ['GET', 'AuditEvent', 'search-type', 'AuditEvent', 'auditor'],
    ['GET', 'AuditEvent/:id', 'read', 'AuditEvent', 'auditor'],
    ['POST', 'AuditEvent', 'create', 'AuditEvent', 'authenticated'],
    ['PUT', 'AuditEvent', 'update', 'AuditEvent', 'authenticated'],
    ['PUT', 'AuditEvent/:id', 'update', 'AuditEvent', 'authenticated'],
    ['PATCH', 'AuditEvent', 'patch', 'AuditEvent', 'authenticated'],
    ['PATCH', 'AuditEvent/:id', 'patch', 'AuditEvent', 'authenticated'],
    ['DELETE', 'AuditEvent', 'delete', 'AuditEvent', 'authenticated'],
    ['DELETE', 'AuditEvent/:id', 'delete', 'AuditEvent', 'authenticated'],
    ['POST', 'AuditEvent/:id', 'create', 'AuditEvent', 'authenticated'],
    ['GET', 'Task/:id/$trail', 'operation', 'Task', 'auditor'],
    ['POST', 'Task/:id/$trail', 'operation', 'Task', 'auditor'],
    ['GET', 'Patient/:id/$trail', 'operation', 'Patient', 'auditor'],
    ['POST', 'Patient/:id/$trail', 'operation', 'Patient', 'auditor'],
    ['GET', 'Location/:id', 'read', 'Location', 'scope r'],
    ['GET', 'Location/:id/_history/:vid', 'vread', 'Location', 'scope r'],
    ['GET', 'Location', 'search-type', 'Location', 'scope s'],
    ['GET', 'Task/:id/$candidates', 'operation', 'Task', 'scope r + Location.s'],
    ['POST', 'Task/:id/$candidates', 'operation', 'Task', 'scope r + Location.s'],
    ['GET', ':type', 'search-type', ':type', 'scope s'],
    ['POST', ':type/_search', 'search-type', ':type', 'scope s'],
    ['POST', ':type', 'create', ':type', 'scope c'],
    ['GET', '_history', 'history-system', '*', 'scope r'],
    ['GET', ':type/_history', 'history-type', ':type', 'scope r'],
    ['GET', ':type/:id', 'read', ':type', 'scope r'],
    ['PUT', ':type/:id', 'update', ':type', 'scope u'],
    ['PATCH', ':type/:id', 'patch', ':type', 'scope u'],
    ['DELETE', ':type/:id', 'delete', ':type', 'scope d'],
    ['GET', ':type/:id/_history', 'history-instance', ':type', 'scope r'],
    ['GET', ':type/:id/_history/:vid', 'vread', ':type', 'scope r'],
];

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(async () => {
  await tg.stop();
});

it('lists every registered FHIR route with its declared interaction and access', () => {
  const actual = tg.gateway.fhirRoutes().map((r) => [r.method, r.pattern, r.interaction, r.type, r.access].join(' '));
  const expected = EXPECTED.map((r) => r.join(' '));
  expect({ added: actual.filter((r) => !expected.includes(r)), missing: expected.filter((r) => !actual.includes(r)) }).toEqual({ added: [], missing: [] });
  expect(actual).toHaveLength(expected.length);
});

it('checks a scope or a role on every route but the CapabilityStatement, the topic, the conformance resources, Bundles and refused AuditEvent writes', () => {
  const open = tg.gateway
    .fhirRoutes()
    .filter((r) => r.access === 'public' || r.access === 'authenticated')
    .map((r) => `${r.method} ${r.pattern}`);
  const auditWrites = ['POST AuditEvent', 'PUT AuditEvent', 'PUT AuditEvent/:id', 'PATCH AuditEvent', 'PATCH AuditEvent/:id', 'DELETE AuditEvent', 'DELETE AuditEvent/:id', 'POST AuditEvent/:id'];
  // The topic and the profiles, search parameters and operations describe the API and hold no data: any token reads them.
  const described = ['SubscriptionTopic', 'Basic', 'StructureDefinition', 'SearchParameter', 'OperationDefinition'].flatMap((t) => [`GET ${t}`, `GET ${t}/:id`]);
  expect(open.sort()).toEqual(['GET metadata', 'POST ', ...described, ...auditWrites].sort());
});
