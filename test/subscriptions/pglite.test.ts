// The basic flow (S1) on the embedded PGlite store, whatever TEST_STORE says: one process, one connection, the same
// outbox, numbering after commit and delivery as on PostgreSQL.
import type { Bundle, Parameters, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, nativeClient, setBsn, uniqueRide, type NativeRecord } from '../support/native.ts';
import { startReceiver, subscribe, type Receiver } from '../support/receiver.ts';

let tg: TestGateway;
const receivers: Receiver[] = [];
const store = process.env.TEST_STORE;

beforeAll(async () => {
  process.env.TEST_STORE = 'pglite';
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
});
afterAll(async () => {
  await tg?.stop();
  await Promise.all(receivers.map((r) => r.close()));
  process.env.TEST_STORE = store;
});

it('S1 on PGlite: the RAV hears the request, the HAP the acceptance, each in its own format; $events numbers them 1 and 2', async () => {
  const native = nativeClient(tg);
  const rav = await startReceiver();
  const hap = await startReceiver();
  receivers.push(rav, hap);
  const ravSub = await subscribe(tg, 'rav-noordoost', rav, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'application/x-ambulance+json');
  await subscribe(tg, 'hap-vechtdal', hap, 'Task?requester=http://fhir.nl/fhir/NamingSystem/ura|90001234&status=accepted', 'application/x-nts+json');

  const { taskId, bsn, record } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  await rav.waitFor(() => rav.events().some((x) => (JSON.parse(x.body) as NativeRecord).overdrachtId === taskId), 'the ride request');
  expect(JSON.parse(rav.events()[0]!.body)).toMatchObject({ status: 'AANGEVRAAGD', urgentie: 'A1', overdrachtId: taskId });

  const rideNumbers = uniqueRide();
  await native.sendOk('ambulance', fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...rideNumbers }, taskId), 'rav-noordoost');
  expect((await native.read<Task>(`Task/${taskId}`)).status).toBe('accepted');
  await hap.waitFor(() => hap.events().length > 0, 'the acceptance');
  const contact = JSON.parse(hap.events()[0]!.body) as NativeRecord;
  expect(contact.contactId).toBe(record.contactId);
  expect(contact.overdracht.terugkoppeling).toMatchObject({ status: 'GEACCEPTEERD', referentie: rideNumbers.ritnummer });

  await rav.waitFor(() => rav.events().length === 2, 'both RAV events');
  expect(rav.events().map((e) => e.eventNumber)).toEqual([1, 2]);
  const events = await request(tg.app).get(`/fhir/Subscription/${ravSub.id}/$events`).set('Authorization', await tg.auth('rav-noordoost'));
  const status = (events.body as Bundle).entry?.[0]?.resource as Parameters;
  expect(status.parameter?.filter((p) => p.name === 'notification-event').map((p) => p.part?.[0]?.valueString)).toEqual(['1', '2']);
  expect(status.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString).toBe('2');
});
