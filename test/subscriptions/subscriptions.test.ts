// Subscriptions end to end on PostgreSQL: the handover topic, subscriptions per organisation, native and FHIR
// notifications to receivers on loopback (S1), signatures, $status and $events, and 100 racing accepts (S4).
import type { Bundle, CapabilityStatement, Parameters, Subscription, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import type { TestGateway } from '../support/gateway.ts';
import { example, fillHandover, setBsn, uniqueRide, withNativeGateway, type Native, type NativeRecord } from '../support/native.ts';
import { receiversForFile, signatureOk, subscribe, subscriptionBody, type Receiver } from '../support/receiver.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g), { ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
const receiver = receiversForFile();

// The topic's canonical: stable, not derived from PUBLIC_URL (Backport IG, issue 16.8).
const TOPIC = 'https://handover-gateway.nl/fhir/SubscriptionTopic/handover';

function statusOf(bundle: Bundle): Parameters {
  return bundle.entry?.[0]?.resource as Parameters;
}
function param(p: Parameters, name: string): unknown {
  const x = p.parameter?.find((q) => q.name === name);
  return x?.valueString ?? x?.valueCode ?? x?.valueCanonical ?? x?.valueReference?.reference;
}

describe('the handover topic', () => {
  it('is readable as a Basic-wrapped SubscriptionTopic and listed in the CapabilityStatement', async () => {
    const topic = await request(tg.app).get('/fhir/SubscriptionTopic/handover').set('Authorization', await tg.auth());
    expect(topic.status).toBe(200);
    expect(topic.body.resourceType).toBe('Basic');
    expect(JSON.stringify(topic.body)).toContain(TOPIC);
    for (const f of ['owner', 'requester', 'status', 'priority', 'group-identifier']) expect(JSON.stringify(topic.body)).toContain(`"valueString":"${f}"`);
    const cap = (await request(tg.app).get('/fhir/metadata')).body as CapabilityStatement;
    // Where the IG's extension context puts it: CapabilityStatement.rest.resource (Subscription).
    expect(cap.rest?.[0]?.resource?.find((r) => r.type === 'Subscription')?.extension).toContainEqual({ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical', valueCanonical: TOPIC });
    expect(cap.rest?.[0]?.resource?.find((r) => r.type === 'Subscription')?.operation?.map((o) => o.name)).toEqual(['status', 'events']);
  });
});

describe('making subscriptions', () => {
  const post = async (body: unknown, client: 'hap-vechtdal' | 'rav-noordoost' = 'hap-vechtdal') =>
    request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));

  it('refuses filters the topic does not offer, other topics, other channels and unsafe endpoints, storing nothing', async () => {
    const r = await receiver();
    const cases: [unknown, RegExp][] = [
      [subscriptionBody(r.url, 'Task?code=fulfill'), /cannot filter by 'code'/],
      [subscriptionBody(r.url, 'Patient?name=x'), /Task\?owner/],
      [{ ...subscriptionBody(r.url, undefined), criteria: 'http://elsewhere.test/SubscriptionTopic/x' }, /criteria/],
      [{ ...subscriptionBody(r.url, undefined), channel: { type: 'websocket' } }, /rest-hook/],
      [subscriptionBody('http://hooks.example.nl/x', undefined), /https/],
      [subscriptionBody('https://10.1.2.3/x', undefined), /private/],
      [subscriptionBody('https://169.254.169.254/latest', undefined), /private/],
      [subscriptionBody('https://[::1]:8443/x', undefined), /private/],
      [subscriptionBody(r.url, undefined, 'id-only', { secret: 'short' }), /secret/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect([res.status, res.body.resourceType]).toEqual([422, 'OperationOutcome']);
      expect(JSON.stringify(res.body)).toMatch(message);
    }
    const list = await request(tg.app).get('/fhir/Subscription').set('Authorization', await tg.auth());
    expect((list.body as Bundle).total).toBe(0);
  });

  it('belongs to its organisation: others get 404; the secret is shown once; updates and deletes', async () => {
    const r = await receiver();
    const res = await post(subscriptionBody(r.url, 'Task?requester=http://fhir.nl/fhir/NamingSystem/ura|90001234'));
    expect(res.status).toBe(201);
    const sub = res.body as Subscription;
    expect(sub.status).toBe('requested');
    expect(sub.extension?.[0]?.valueString).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await r.waitFor((x) => x.some((y) => y.type === 'handshake'), 'handshake');
    const handshake = r.received[0]!;
    expect(signatureOk(handshake, sub.extension![0]!.valueString!)).toBe(true);
    expect(statusOf(JSON.parse(handshake.body) as Bundle).parameter?.find((p) => p.name === 'type')?.valueCode).toBe('handshake');

    const mine = await request(tg.app).get(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth());
    expect(mine.status).toBe(200);
    expect(JSON.stringify(mine.body)).not.toContain(sub.extension![0]!.valueString!);
    for (const path of [`Subscription/${sub.id}`, `Subscription/${sub.id}/$status`, `Subscription/${sub.id}/$events`]) {
      expect((await request(tg.app).get(`/fhir/${path}`).set('Authorization', await tg.auth('rav-noordoost'))).status).toBe(404);
    }
    expect((await request(tg.app).delete(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth('rav-noordoost'))).status).toBe(404);
    const ravList = await request(tg.app).get('/fhir/Subscription').set('Authorization', await tg.auth('rav-noordoost'));
    expect((ravList.body as Bundle).entry ?? []).toEqual([]);

    const off = await request(tg.app).put(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth()).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ ...mine.body, status: 'off' }));
    expect([off.status, off.body.status]).toEqual([200, 'off']);
    expect((await request(tg.app).delete(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth())).status).toBe(200);
    expect((await request(tg.app).get(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth())).status).toBe(410);
  });

  it('goes to error when the endpoint does not answer the handshake with 2xx', async () => {
    const r = await receiver();
    r.status = 500;
    const res = await post(subscriptionBody(r.url, undefined));
    const id = (res.body as Subscription).id;
    let status = 'requested';
    for (let i = 0; i < 100 && status === 'requested'; i++) {
      await new Promise((x) => setTimeout(x, 20));
      status = ((await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth())).body as Subscription).status;
    }
    expect(status).toBe('error');
  });
});

describe('S1: chest pain, HAP to ambulance, with native notifications both ways', () => {
  it('tells the RAV of the request in its format, the HAP of the acceptance in its own; re-sends notify no one', async () => {
    const rav = await receiver();
    const hap = await receiver();
    const ravSub = await subscribe(tg, 'rav-noordoost', rav, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'application/x-ambulance+json');
    const hapSub = await subscribe(tg, 'hap-vechtdal', hap, 'Task?requester=http://fhir.nl/fhir/NamingSystem/ura|90001234&status=accepted,completed,rejected,cancelled', 'application/x-nts+json');

    const { taskId, bsn, record } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await rav.waitFor((r) => r.some((x) => x.type === 'event-notification' && JSON.parse(x.body).overdrachtId === taskId), 'ride request');
    const note = rav.events().find((x) => JSON.parse(x.body).overdrachtId === taskId)!;
    const ride = JSON.parse(note.body) as NativeRecord;
    expect(ride).toMatchObject({ status: 'AANGEVRAAGD', urgentie: 'A1', overdrachtId: taskId });
    expect(ride.patient.bsn).toBe(bsn);
    expect(note.headers['content-type']).toBe('application/x-ambulance+json');
    expect(note.subscription).toBe(ravSub.id);
    expect(note.idempotencyKey).toBe(`${ravSub.id}-${note.eventNumber}`);
    expect(signatureOk(note, ravSub.secret)).toBe(true);
    expect(signatureOk(note, hapSub.secret)).toBe(false);
    // The same as the RAV gets when it asks.
    expect(ride).toEqual(JSON.parse((await native.get(`/native/ambulance/${taskId}`, 'rav-noordoost')).text));
    // The HAP filtered on answers: nothing yet.
    expect(hap.events()).toEqual([]);

    const rideNumbers = uniqueRide();
    const accept = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...rideNumbers }, taskId);
    await native.sendOk('ambulance', accept, 'rav-noordoost');
    expect((await native.read<Task>(`Task/${taskId}`)).status).toBe('accepted');
    await hap.waitFor((r) => r.some((x) => x.type === 'event-notification'), 'feedback');
    const contact = JSON.parse(hap.events()[0]!.body) as NativeRecord;
    expect(contact.overdracht.terugkoppeling).toMatchObject({ status: 'GEACCEPTEERD', referentie: rideNumbers.ritnummer });
    expect(contact.contactId).toBe(record.contactId);
    expect(signatureOk(hap.events()[0]!, hapSub.secret)).toBe(true);

    // Re-sends change nothing, so there is no event to tell.
    const before = await request(tg.app).get(`/fhir/Subscription/${ravSub.id}/$status`).set('Authorization', await tg.auth('rav-noordoost'));
    expect((await native.send('nts', record)).status).toBe(200);
    expect((await native.send('ambulance', accept, 'rav-noordoost')).status).toBe(200);
    const after = await request(tg.app).get(`/fhir/Subscription/${ravSub.id}/$status`).set('Authorization', await tg.auth('rav-noordoost'));
    const count = (b: Bundle): unknown => param(statusOf(b), 'events-since-subscription-start');
    expect(count(after.body as Bundle)).toBe(count(before.body as Bundle));
    expect(count(after.body as Bundle)).toBe('2');

    // $events gives the FHIR form of every stored event.
    const events = await request(tg.app).get(`/fhir/Subscription/${ravSub.id}/$events`).query({ eventsSinceNumber: '1', eventsUntilNumber: '2' }).set('Authorization', await tg.auth('rav-noordoost'));
    expect(events.status).toBe(200);
    const bundle = events.body as Bundle;
    expect(bundle.type).toBe('history');
    expect(param(statusOf(bundle), 'type')).toBe('query-event');
    expect(bundle.entry?.slice(1).map((e) => (e.resource as Task).status)).toEqual(['requested', 'accepted']);
    const numbers = statusOf(bundle).parameter?.filter((p) => p.name === 'notification-event').map((p) => p.part?.find((q) => q.name === 'event-number')?.valueString);
    expect(numbers).toEqual(['1', '2']);
  });
});

describe('S4: racing accepts', () => {
  it('100 rounds of two candidates accepting at once: exactly one winner, the other cancelled "not selected" and notified', async () => {
    const zcc = await tg.organizationRef('zcc-ijsselland');
    const ijsseldelta = await tg.organizationRef('vvt-ijsseldelta');
    const salland = await tg.organizationRef('vvt-sallandse-heuvelrug');
    const auth = { zcc: await tg.auth('zcc-ijsselland'), a: await tg.auth('vvt-ijsseldelta'), b: await tg.auth('vvt-sallandse-heuvelrug') };
    const recvA = await receiver();
    const recvB = await receiver();
    await subscribe(tg, 'vvt-ijsseldelta', recvA, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90007890', 'full-resource');
    await subscribe(tg, 'vvt-sallandse-heuvelrug', recvB, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90007891', 'full-resource');
    const post = (body: unknown) => request(tg.app).post(`/fhir/${(body as { resourceType: string }).resourceType}`).set('Authorization', auth.zcc).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
    const patient = `Patient/${(await post(buildPatient())).body.id}`;
    const focus = `ServiceRequest/${(await post(buildServiceRequest({ patient, requester: zcc, performer: ijsseldelta }))).body.id}`;

    const losers: string[] = [];
    for (let round = 0; round < 100; round++) {
      const group = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${crypto.randomUUID()}` };
      const [ta, tb] = await Promise.all([ijsseldelta, salland].map(async (owner) => (await post(buildTask({ focus, patient, requester: zcc, owner }, { groupIdentifier: group }))).body as Task));
      const accept = [{ op: 'replace', path: '/status', value: 'accepted' }];
      const [ra, rb] = await Promise.all([
        request(tg.app).patch(`/fhir/Task/${ta!.id}`).set('Authorization', auth.a).set('Content-Type', 'application/json-patch+json').send(JSON.stringify(accept)),
        request(tg.app).patch(`/fhir/Task/${tb!.id}`).set('Authorization', auth.b).set('Content-Type', 'application/json-patch+json').send(JSON.stringify(accept)),
      ]);
      const after = await Promise.all([ta!, tb!].map(async (t) => (await request(tg.app).get(`/fhir/Task/${t.id}`).set('Authorization', auth.zcc)).body as Task));
      const statuses = after.map((t) => t.status).sort();
      expect({ round, statuses }).toEqual({ round, statuses: ['accepted', 'cancelled'] });
      const loser = after.find((t) => t.status === 'cancelled')!;
      expect(loser.statusReason?.text).toBe('not selected');
      // The loser's PATCH either came first in nothing (refused 422) or not at all: never two 200s.
      expect([ra.status, rb.status].sort()).toEqual(loser.id === ta!.id ? [200, ra.status].sort() : [200, rb.status].sort());
      expect([ra.status, rb.status].filter((s) => s === 200).length).toBe(1);
      losers.push(loser.id!);
    }
    const cancelledSeen = (r: Receiver): string[] =>
      r.events().flatMap((x) => ((JSON.parse(x.body) as Bundle).entry ?? []).slice(1).map((e) => e.resource as Task)).filter((t) => t.status === 'cancelled' && t.statusReason?.text === 'not selected').map((t) => t.id!);
    const notified = (id: string): boolean => cancelledSeen(recvA).includes(id) || cancelledSeen(recvB).includes(id);
    try {
      // Either receiver may hear the last loser: each checks on its own arrivals, so the first to see them all ends the wait.
      await Promise.race([recvA, recvB].map((r) => r.waitFor(() => losers.every(notified), 'every loser notified', 30_000)));
    } catch (err) {
      // Say what happened to each loser not seen: its outbox rows, and the versions of it that did arrive.
      const missing = await Promise.all(
        losers.filter((id) => !notified(id)).map(async (id) => ({
          id,
          outbox: (await tg.gateway.db.query('SELECT event_number, state, attempts, focus_version FROM subscription_events WHERE handover_id = $1 ORDER BY event_number', [id])).rows,
          arrived: [recvA, recvB]
            .flatMap((r) => r.events())
            .flatMap((x) => ((JSON.parse(x.body) as Bundle).entry ?? []).slice(1).map((e) => e.resource as Task))
            .filter((t) => t.id === id)
            .map((t) => `${t.status} v${t.meta?.versionId} ${t.statusReason?.text ?? ''}`),
        })),
      );
      throw new Error(`${(err as Error).message}; not seen: ${JSON.stringify(missing)}`, { cause: err });
    }
    expect(new Set([...cancelledSeen(recvA), ...cancelledSeen(recvB)]).size).toBe(100);
  }, 120_000);
});
