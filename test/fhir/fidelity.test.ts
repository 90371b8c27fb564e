// What a client sends is what it reads back (issue 16.3, 16.4): client meta (profile, tag, security, source) and
// the text of every decimal, through create, read, vread, update, patch, history, search and transactions.
import type { Bundle, Meta, Observation, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { unique } from '../support/fhir-builders.ts';
import { createHandover, exampleOf, FHIR_JSON, fhirClient, type Fhir, type Handover } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;
let h: Handover;
let authorization: string;

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  h = await createHandover(tg, fhir);
  authorization = await tg.auth('hap-vechtdal');
});
afterAll(async () => {
  await tg?.stop();
});

/** Sends `text` as it is written: JSON.stringify would write 37.0 as 37 before the gateway saw it. */
function sendText(method: 'post' | 'put', path: string, text: string, headers: Record<string, string> = {}): request.Test {
  const t = request(tg.app)[method](`/fhir/${path}`).set('Authorization', authorization).set('Accept', FHIR_JSON).set('Content-Type', FHIR_JSON);
  for (const [k, v] of Object.entries(headers)) t.set(k, v);
  return t.send(text);
}

const CLIENT_META: Meta = {
  profile: ['http://example.org/fhir/StructureDefinition/vital-sign-nl'],
  tag: [{ system: 'http://example.org/tags', code: 'triage', display: 'Triage' }],
  security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }],
  source: 'urn:example:hap-epd#1234',
};

/** The decimals as written: kept precision (37.0, 1.00) and an exponent form. */
const DECIMALS = ['"value":37.0', '"value":1.00', '"valueDecimal":1.000000000000000000E-245', '"value":1E+2'];

function observationText(marker: string, meta: Meta = CLIENT_META): string {
  const base = exampleOf('Observation', h, marker) as Observation;
  const { valueQuantity: _v, ...rest } = base;
  const json = JSON.stringify({ ...rest, meta: { versionId: '42', lastUpdated: '2001-01-01T00:00:00Z', ...meta } });
  // Numbers spliced in as text, so that the request carries them as a client writes them.
  return `${json.slice(0, -1)},"valueQuantity":{"value":37.0,"unit":"Cel","system":"http://unitsofmeasure.org","code":"Cel"},"component":[{"code":{"text":"ratio"},"valueQuantity":{"value":1.00,"unit":"1","system":"http://unitsofmeasure.org","code":"1"}},{"code":{"text":"count"},"valueQuantity":{"value":1E+2}}],"extension":[{"url":"http://example.org/fhir/StructureDefinition/tiny","valueDecimal":1.000000000000000000E-245}]}`;
}

function expectDecimalsAsSent(text: string): void {
  for (const d of DECIMALS) expect(text).toContain(d);
}

function metaOf(res: request.Response): Meta {
  return (JSON.parse(res.text) as Resource).meta ?? {};
}

describe('client meta and decimals, as sent', () => {
  it('are kept by create and given back by read, vread, history and search; versionId and lastUpdated are the server\'s', async () => {
    const marker = unique('fid');
    const created = await sendText('post', 'Observation', observationText(marker));
    expect(created.status).toBe(201);
    expectDecimalsAsSent(created.text);
    const id = (created.body as Observation).id ?? '';
    expect(metaOf(created)).toEqual({ versionId: '1', lastUpdated: expect.any(String), ...CLIENT_META });
    expect(metaOf(created).lastUpdated).not.toBe('2001-01-01T00:00:00Z');

    for (const path of [`Observation/${id}`, `Observation/${id}/_history/1`]) {
      const res = await fhir.get(path);
      expect(res.status).toBe(200);
      expectDecimalsAsSent(res.text);
      expect(metaOf(res)).toEqual(metaOf(created));
    }
    for (const path of [`Observation/${id}/_history`, `Observation?identifier=${marker}`]) {
      const res = await fhir.get(path);
      expect(res.status).toBe(200);
      expectDecimalsAsSent(res.text);
      const found = (JSON.parse(res.text) as Bundle).entry?.[0]?.resource;
      expect(found?.meta).toEqual(metaOf(created));
    }
  });

  it('an update keeps what it sends; security labels it leaves out are carried, never lost', async () => {
    const created = await sendText('post', 'Observation', observationText(unique('fid')));
    const id = (created.body as Observation).id ?? '';
    const otherTag = { tag: [{ system: 'http://example.org/tags', code: 'reviewed' }], profile: [], source: 'urn:example:second' };
    const withId = (text: string): string => text.replace('{', `{"id":"${id}",`);
    const updated = await sendText('put', `Observation/${id}`, withId(observationText('x', otherTag)));
    expect(updated.status).toBe(200);
    expectDecimalsAsSent(updated.text);
    expect(metaOf(updated)).toEqual({ versionId: '2', lastUpdated: expect.any(String), ...otherTag, security: CLIENT_META.security });
    const read = await fhir.get(`Observation/${id}`);
    expect(metaOf(read)).toEqual(metaOf(updated));
    expectDecimalsAsSent(read.text);

    const labelled = { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST' }] };
    const again = await sendText('put', `Observation/${id}`, withId(observationText('x', labelled)));
    expect(metaOf(again).security).toEqual([...labelled.security, ...(CLIENT_META.security ?? [])]);
  });

  it('an update that changes only a tag is a new version; one that changes nothing is not', async () => {
    const created = await sendText('post', 'Observation', observationText(unique('fid')));
    const id = (created.body as Observation).id ?? '';
    const same = await sendText('put', `Observation/${id}`, observationText('x').replace('{', `{"id":"${id}",`).replace(/"identifier":\[[^\]]*\],/, `"identifier":${JSON.stringify((created.body as Observation).identifier)},`));
    expect(same.status).toBe(200);
    expect(same.headers.etag).toBe('W/"1"');
    const retagged = await sendText('put', `Observation/${id}`, observationText('x', { ...CLIENT_META, tag: [] }).replace('{', `{"id":"${id}",`));
    expect(retagged.headers.etag).toBe('W/"2"');
  });

  it('a patch keeps the meta and the decimals it does not touch', async () => {
    const created = await sendText('post', 'Observation', observationText(unique('fid')));
    const id = (created.body as Observation).id ?? '';
    const patched = await fhir.patch(`Observation/${id}`, [{ op: 'replace', path: '/status', value: 'amended' }]);
    expect(patched.status).toBe(200);
    expectDecimalsAsSent(patched.text);
    expect(metaOf(patched)).toEqual({ ...metaOf(created), versionId: '2', lastUpdated: expect.any(String) });
    expectDecimalsAsSent((await fhir.get(`Observation/${id}/_history/2`)).text);
  });

  it('a patch writes numbers as its body wrote them; an update that changes only a decimal\'s precision is a new version', async () => {
    const created = await sendText('post', 'Observation', observationText(unique('fid')));
    const id = (created.body as Observation).id ?? '';
    const patch = '[{"op":"replace","path":"/valueQuantity/value","value":38.50},{"op":"add","path":"/component/-","value":{"code":{"text":"extra"},"valueQuantity":{"value":2.0}}}]';
    const patched = await request(tg.app)
      .patch(`/fhir/Observation/${id}`)
      .set('Authorization', authorization)
      .set('Content-Type', 'application/json-patch+json')
      .send(patch);
    expect(patched.status).toBe(200);
    expect(patched.text).toContain('"value":38.50');
    expect(patched.text).toContain('"value":2.0}');
    const read = await fhir.get(`Observation/${id}`);
    expect(read.text).toContain('"value":38.50');
    expect(read.text).toContain('"value":2.0}');

    const current = read.text.replace('"value":38.50', '"value":38.5');
    const updated = await sendText('put', `Observation/${id}`, current);
    expect(updated.status).toBe(200);
    expect(updated.headers.etag).toBe('W/"3"');
    expect(updated.text).toContain('"value":38.5,');
  });

  it('a transaction keeps them in its answer and in what it stores', async () => {
    const marker = unique('fid');
    const location = `{"resourceType":"Location","meta":{"tag":[{"system":"http://example.org/tags","code":"post"}],"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]},"identifier":[{"system":"http://example.org/location","value":"${marker}"}],"status":"active","name":"Post ${marker}","position":{"longitude":6.0830,"latitude":52.50,"altitude":1.0E1}}`;
    const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:4e0a1d3c-1c1b-4b0e-9a43-2d0f7f0d8e11","resource":${location},"request":{"method":"POST","url":"Location"}},{"resource":${observationText(unique('fid'))},"request":{"method":"POST","url":"Observation"}}]}`;
    const res = await sendText('post', '', bundle, { Prefer: 'return=representation' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('"position":{"longitude":6.0830,"latitude":52.50,"altitude":1.0E1}');
    expectDecimalsAsSent(res.text);
    const answer = JSON.parse(res.text) as Bundle;
    const [locationUrl, observationUrl] = (answer.entry ?? []).map((e) => e.response?.location?.replace(/^.*\/fhir\//, '').replace(/\/_history\/\d+$/, '') ?? '');
    const readLocation = await fhir.get(locationUrl);
    // Key order is the database's (jsonb): each number is checked on its own.
    for (const d of ['"longitude":6.0830', '"latitude":52.50', '"altitude":1.0E1']) expect(readLocation.text).toContain(d);
    expect(metaOf(readLocation)).toEqual({
      versionId: '1',
      lastUpdated: expect.any(String),
      tag: [{ system: 'http://example.org/tags', code: 'post' }],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }],
    });
    const readObservation = await fhir.get(observationUrl);
    expectDecimalsAsSent(readObservation.text);
    expect(metaOf(readObservation)).toEqual({ versionId: '1', lastUpdated: expect.any(String), ...CLIENT_META });
  });

  it('a PATCH entry of a transaction writes numbers as its Binary wrote them', async () => {
    const created = await sendText('post', 'Observation', observationText(unique('fid')));
    const id = (created.body as Observation).id ?? '';
    const data = Buffer.from('[{"op":"replace","path":"/valueQuantity/value","value":36.90}]').toString('base64');
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: `Observation/${id}` } }] };
    const res = await fhir.post('', bundle);
    expect(res.status).toBe(200);
    expect((await fhir.get(`Observation/${id}`)).text).toContain('"value":36.90');
  });

  it('values still validate as decimals: a decimal written as a string is refused', async () => {
    const text = observationText(unique('fid')).replace('"value":37.0', '"value":"37.0"');
    const res = await sendText('post', 'Observation', text);
    expect(res.status).toBe(422);
    expect(res.text).toContain('Observation.value[x].value');
  });
});
