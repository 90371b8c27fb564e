// Issue 17.3/17.4: the referral passed on in the receiver's language. A HAP subscribed with the AZ-IG payload gets the
// message back element for element (round trip); one subscribed with `nts` gets an NTS record; both answer and the
// RAV sees it. Nictiz's sender TestScript's asserts hold for the message the gateway renders, also for a handover
// that started as a native `ambulance` record.
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Bundle, Composition, Organization, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { loadMessageRules } from '../../src/messaging/rules.ts';
import { ROOT_DIR } from '../../src/gateway.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { AZ_FIXTURES, newMessage } from '../support/az-ig.ts';
import { nativeClient } from '../support/native.ts';
import { startReceiver, subscribe, type Receiver } from '../support/receiver.ts';
import { runTestScript } from '../support/testscript.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const RAV = '90004567';
const HAP = '90001234';
const rules = loadMessageRules(join(ROOT_DIR, 'profiles/az-ig/referral-message.json'));

let tg: TestGateway;
let azReceiver: Receiver;
let ntsReceiver: Receiver;
beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  azReceiver = await startReceiver();
  ntsReceiver = await startReceiver();
  await subscribe(tg, 'hap-vechtdal', azReceiver, `Task?owner=${URA}|${HAP}`, 'application/x-az-ig+json');
  await subscribe(tg, 'hap-vechtdal', ntsReceiver, `Task?owner=${URA}|${HAP}`, 'application/x-nts+json');
}, 60_000);
afterAll(async () => {
  await azReceiver?.close();
  await ntsReceiver?.close();
  await tg?.stop();
});

/** The reference message between two demo organisations: the RAV Noordoost sends it to the HAP Vechtdal. */
function demoMessage(id: string): Bundle {
  return newMessage(id, (b) => {
    for (const e of b.entry ?? []) {
      const org = e.resource as Organization;
      if (org.resourceType !== 'Organization') continue;
      const identifier = org.identifier?.[0];
      if (identifier) identifier.value = identifier.value === '00000001' ? RAV : HAP;
    }
  });
}

async function send(body: unknown): Promise<request.Response> {
  return request(tg.app).post('/fhir/$process-message').set('Authorization', await tg.auth('rav-noordoost')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
}

/**
 * A message with ids, meta, fullUrls and the server's references taken out: each reference becomes the index of the
 * entry it resolves to (R4 rules), and an Organization (matched to the directory, not copied) its URA and name.
 */
function normalise(bundle: Bundle): unknown {
  const entries = bundle.entry ?? [];
  const index = new Map(entries.map((e, i) => [e.fullUrl ?? '', i]));
  const resolve = (from: string, ref: string): string => {
    const direct = index.get(ref);
    if (direct !== undefined) return `#${direct}`;
    const base = /^(.*\/)[A-Z][A-Za-z]+\/[^/]+$/.exec(from)?.[1] ?? '';
    const i = index.get(`${base}${ref}`);
    return i === undefined ? `unresolved ${ref}` : `#${i}`;
  };
  const walk = (v: unknown, from: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, from));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'reference' && typeof x === 'string' ? resolve(from, x) : walk(x, from)]));
    }
    return v;
  };
  return {
    type: bundle.type,
    timestamp: bundle.timestamp,
    entry: entries.map((e) => {
      const { id: _id, meta: _meta, ...rest } = e.resource as Resource & { meta?: unknown };
      if (rest.resourceType === 'Organization') return { resourceType: 'Organization', identifier: (rest as Organization).identifier?.filter((i) => i.system === URA), name: '(directory)' };
      return walk(rest, e.fullUrl ?? '');
    }),
  };
}

describe('a referral message to a HAP subscribed in both languages', () => {
  let taskId: string;
  const original = demoMessage('delivery-1');

  it('reaches both subscriptions within a second of being stored', async () => {
    const res = await send(original);
    expect(res.status).toBe(200);
    // Counted from the answer (the message stored): the first request of a fresh process also pays for warming up.
    const started = Date.now();
    taskId = /\/Task\/([^/]+)$/.exec(String(res.headers['content-location']))?.[1] ?? '';
    await azReceiver.waitFor((r) => r.some((x) => x.type === 'event-notification'), 'AZ-IG notification', 5_000);
    await ntsReceiver.waitFor((r) => r.some((x) => x.type === 'event-notification'), 'nts notification', 5_000);
    const latest = Math.max(azReceiver.events()[0].at, ntsReceiver.events()[0].at);
    console.log(`AZ-IG and nts notifications: ${latest - started} ms after the message was stored`);
    expect(latest - started).toBeLessThan(1_000);
  });

  it('the AZ-IG subscriber gets the message back with every element of the original (but ids and meta)', () => {
    const event = azReceiver.events()[0];
    expect(event.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const rendered = JSON.parse(event.body) as Bundle;
    expect(rules.check(rendered)).toEqual([]);
    const expected = normalise(original) as { entry: unknown[] };
    expect(normalise(rendered)).toEqual(expected);
  });

  it("the rendered message passes Nictiz's sender TestScript (the gateway as the sending system)", async () => {
    const rendered = JSON.parse(azReceiver.events()[0].body) as Bundle;
    // A new message id: the engine's server is the gateway itself, which would otherwise answer it as a re-send.
    (rendered.entry?.[0]?.resource as Resource).id = 'sender-testscript-1';
    const results = await runTestScript(join(AZ_FIXTURES, 'Sending-System/TestScript-hg-TestScript-AmbulanceHAP-Sender.json'), {
      perform: async () => ({ request: rendered, status: (await send(rendered)).status }),
      validate: (url, resource) => (url === rules.profiles.Bundle ? rules.check(resource as Bundle) : [{ severity: 'error', code: 'not-supported', diagnostics: url }]),
    });
    expect(results.length).toBe(10);
    expect(results.filter((r) => !r.passed)).toEqual([]);
  });

  it('the nts subscriber gets an NTS record valid by the NTS schema for rendered records: the letter and the attachment in the request, urgency the highest', async () => {
    const record = JSON.parse(ntsReceiver.events()[0].body) as { aanvraag?: { verzoek?: string; urgentie?: string }; patient?: { bsn?: string } };
    // The schema of mappings/nts as the gateway serves it for rendered records (its fields, codes and patterns; nothing required).
    const served = (await request(tg.app).get('/openapi.json')).body as { components: { schemas: Record<string, object> } };
    const ajv = new Ajv2020.default({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const valid = ajv.validate(served.components.schemas.RenderedNtsRecord, record);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(record.patient?.bsn).toBe('999999990');
    // The message carries no urgency: never a weaker one than the highest is assumed.
    expect(record.aanvraag?.urgentie).toBe('U0');
    const verzoek = record.aanvraag?.verzoek ?? '';
    for (const line of [
      'Reden van verwijzing: Controleconsult gevraagd na ambulancezorg (maagklachten).',
      'Ingestelde behandeling: Antacidum toegediend, klachten verminderd.',
      'Diagnose/conclusie: Waarschijnlijk maagklachten. Controle door huisarts gewenst.',
      'Afspraken met patiënt: Maak een afspraak op de huisartsenpost voor een controleconsult.',
      'Bijlage: 12-afleidingen ECG (application/pdf',
    ]) expect(verzoek).toContain(line);
  });

  it('the HAP answers and the RAV sees the answer', async () => {
    const hap = await tg.auth('hap-vechtdal');
    const task = (await request(tg.app).get(`/fhir/Task/${taskId}`).set('Authorization', hap)).body as Task;
    const accepted = await request(tg.app).put(`/fhir/Task/${taskId}`).set('Authorization', hap).set('Content-Type', 'application/fhir+json').send({ ...task, status: 'accepted' });
    expect(accepted.status).toBe(200);
    const seen = (await request(tg.app).get(`/fhir/Task/${taskId}`).set('Authorization', await tg.auth('rav-noordoost'))).body as Task;
    expect(seen.status).toBe('accepted');
  });
});

describe('a native ambulance record with an overdracht to the HAP', () => {
  it('reaches the AZ-IG subscriber as a message the IG accepts, with the request, treatment, diagnosis and findings in the letter', async () => {
    const { taskId } = await nativeClient(tg).createHandover('ambulance-niet-vervoerd-naar-hap.json', 'rav-noordoost');
    const mine = (r: { body: string }): boolean => r.body.includes(`ServiceRequest/`) && JSON.parse(r.body).entry?.some((e: { resource?: Resource }) => e.resource?.resourceType === 'MessageHeader') && r.body.includes('Wondcontrole');
    await azReceiver.waitFor((r) => r.some((x) => x.type === 'event-notification' && mine(x)), 'the message of the ride', 5_000);
    const rendered = JSON.parse(azReceiver.events().filter(mine)[0].body) as Bundle;
    expect(rules.check(rendered)).toEqual([]);
    const letter = rendered.entry?.find((e) => e.resource?.resourceType === 'Composition')?.resource as Composition;
    const text = (letter.section ?? []).map((s) => `${s.title}: ${s.text?.div ?? ''}`).join('\n');
    expect(text).toContain('Reden van verwijzing: <div xmlns="http://www.w3.org/1999/xhtml">Wondcontrole binnen 24 uur.</div>');
    expect(text).toContain('Wond gereinigd en gesloten met hechtstrips.');
    expect(text).toContain('Hoofdwond, hechten niet nodig');
    expect(text).toMatch(/Bevindingen: .*88/s);
    const sr = rendered.entry?.find((e) => e.resource?.resourceType === 'ServiceRequest')?.resource as ServiceRequest;
    // The record's urgency (U4 for the HAP) is kept, not dropped for the IG's lack of one.
    expect(sr.priority).toBeDefined();
    expect(taskId).toBeTruthy();

    (rendered.entry?.[0]?.resource as Resource).id = 'sender-testscript-ride';
    const results = await runTestScript(join(AZ_FIXTURES, 'Sending-System/TestScript-hg-TestScript-AmbulanceHAP-Sender.json'), {
      perform: async () => ({ request: rendered, status: (await send(rendered)).status }),
      validate: (url, resource) => (url === rules.profiles.Bundle ? rules.check(resource as Bundle) : [{ severity: 'error', code: 'not-supported', diagnostics: url }]),
    });
    expect(results.filter((r) => !r.passed)).toEqual([]);
  });
});
