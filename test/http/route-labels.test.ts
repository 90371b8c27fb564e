// The route label of a request is a path of the API description, resource type filled in; anything else one label per area.
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/gateway.ts';
import { WRITABLE_TYPES } from '../../src/fhir/resource-types.ts';
import { RouteLabels } from '../../src/observability/route-labels.ts';

const labels = RouteLabels.fromOpenApi(join(ROOT_DIR, 'openapi/openapi.yaml'), WRITABLE_TYPES);

test.each([
  ['/fhir', '/fhir'],
  ['/fhir/metadata', '/fhir/metadata'],
  ['/fhir/_history?_since=2026-01-01', '/fhir/_history'],
  ['/fhir/Task?owner=x&name=Jansen', '/fhir/Task'],
  ['/fhir/Task/_search', '/fhir/Task/_search'],
  ['/fhir/Task/abc-1', '/fhir/Task/{id}'],
  ['/fhir/Task/abc-1/_history', '/fhir/Task/{id}/_history'],
  ['/fhir/Task/abc-1/_history/3', '/fhir/Task/{id}/_history/{vid}'],
  ['/fhir/Task/abc-1/$trail', '/fhir/Task/{id}/$trail'],
  ['/fhir/Patient/$validate', '/fhir/Patient/$validate'],
  ['/fhir/ConceptMap/$translate?code=x', '/fhir/ConceptMap/$translate'],
  ['/fhir/ConceptMap/cm-1/$translate', '/fhir/ConceptMap/{id}/$translate'],
  ['/fhir/Subscription/s-1/$status', '/fhir/Subscription/{id}/$status'],
  ['/native/nts', '/native/nts'],
  ['/native/vvt/abc-1', '/native/vvt/{handoverId}'],
  ['/board/', '/board'],
  ['/board/events', '/board/events'],
  ['/board/board.js', '/board/{asset}'],
  ['/board/handovers/abc-1', '/board/handovers/{id}'],
  ['/admin/clients/hap-1', '/admin/clients/{clientId}'],
  ['/oauth2/token', '/oauth2/token'],
])('%s is counted as %s', (path, label) => {
  expect(labels.label(path)).toBe(label);
});

test.each([
  ['/fhir/Bogus', '/fhir/{unknown}'],
  ['/fhir/Bogus/1', '/fhir/{unknown}'],
  ['/fhir/$everything', '/fhir/{unknown}'],
  ['/fhir/Patient/$everything', '/fhir/{unknown}'],
  ['/fhir/Task/abc/$nothing', '/fhir/{unknown}'],
  ['/fhir/Task/abc/extra/parts/here', '/fhir/{unknown}'],
  ['/native/hl7v2', '/native/{unknown}'],
  ['/native/nts/a/b', '/native/{unknown}'],
  ['/wp-login.php', '/{unknown}'],
  ['http://evil.example/fhir/Task', '/{unknown}'],
])('%s, which the gateway does not serve, is counted as %s', (path, label) => {
  expect(labels.label(path)).toBe(label);
});
