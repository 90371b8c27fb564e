// A receiver that answers quickly may have more notifications in flight than HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION
// (half the instance's slots), so that at 100-200 events/s the worker's own cycle does not hold the slots; one slow
// answer and it is back at the ordinary cap. Nothing here measures time but the receiver's: it answers at once, or
// holds every notification until the test lets it go, and the assertions are about how many were open at once.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { nativeClient } from '../support/native.ts';
import { subscriptionBody } from '../support/receiver.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';
const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';

/** Answers handshakes at once; event notifications at once, or (holding) when `letGo` is called. */
function gateReceiver(): { url: Promise<string>; holding: boolean; open: ServerResponse[]; answered: number; letGo(): void; close(): Promise<void> } {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (req.headers['x-notification-type'] !== 'event-notification' || !r.holding) {
        if (req.headers['x-notification-type'] === 'event-notification') r.answered++;
        res.end();
        return;
      }
      r.open.push(res);
      // A send the gateway gave up (its deadline) is not open any more.
      res.on('close', () => {
        const i = r.open.indexOf(res);
        if (i >= 0) r.open.splice(i, 1);
      });
    });
  });
  const r = {
    url: new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`))),
    holding: false,
    open: [] as ServerResponse[],
    answered: 0,
    letGo: () => {
      for (const res of r.open.splice(0)) {
        r.answered++;
        res.end();
      }
    },
    close: async () => {
      r.letGo();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return r;
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (ok()) return;
  throw new Error(`not within ${ms} ms: ${what}`);
}

let tg: TestGateway;
let receiver: ReturnType<typeof gateReceiver>;
beforeAll(async () => {
  // 4 per subscription, 32 per instance: a fast receiver may have 16.
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_MAX_IN_FLIGHT: '32', HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION: '4', HOOK_SEND_DEADLINE_SECONDS: '20', HOOK_LEASE_SECONDS: '30' });
  receiver = gateReceiver();
});
afterAll(async () => {
  await tg?.stop();
  await receiver?.close();
});

it('a receiver that answered quickly gets more than 4 at once (at most 16); once it was slow, 4 again', async () => {
  const res = await request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth('rav-noordoost')).set('Content-Type', 'application/fhir+json').send(subscriptionBody(await receiver.url, RAV, 'id-only'));
  expect(res.status).toBe(201);
  const id = (res.body as Subscription).id!;
  for (let i = 0; i < 20 && (await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth('rav-noordoost'))).body.status !== 'active'; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const native = nativeClient(tg);
  // Answered at once: the receiver is fast.
  for (let i = 0; i < 6; i++) await native.createHandover(U1, 'hap-vechtdal');
  await until('six answered', () => receiver.answered === 6);

  receiver.holding = true;
  // 30 events: 16 open at most, so that 14 are left to show the cap after the slow answers.
  for (let i = 0; i < 30; i++) await native.createHandover(U1, 'hap-vechtdal');
  // Well within the send deadline (20 s): nothing is retried meanwhile.
  await until('more than 4 open', () => receiver.open.length > 4, 5_000);
  await new Promise((r) => setTimeout(r, 500));
  expect(receiver.open.length).toBeLessThanOrEqual(16);
  expect(receiver.open.length).toBeGreaterThan(4);

  // Those answers took long: the receiver is no longer fast, and has 4 at once at most.
  receiver.letGo();
  await until('4 open again', () => receiver.open.length === 4);
  await new Promise((r) => setTimeout(r, 500));
  expect(receiver.open.length).toBe(4);
  receiver.holding = false;
  receiver.letGo();
  await until('all 36 answered', () => receiver.answered === 36);
}, 60_000);
