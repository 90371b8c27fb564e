// Scenario S1 from the ambulance service's side, as an integration developer would write it: only
// `fetch`, `jose` and Node's own modules. Run it against `npm start` (the embedded demo):
//   npm run example:s1                        (GATEWAY_URL, default http://localhost:8080; ADMIN_TOKEN, default demo-admin)
// What it does:
//  1. makes an ES384 key pair and has the public key registered for RAV Noordoost with the operator CLI;
//  2. gets an access token with private_key_jwt (SMART Backend Services);
//  3. subscribes to the handovers addressed to RAV Noordoost, with the ambulance system's own format as payload;
//  4. plays the HAP once: sends the NTS chest-pain triage (U1) with the demo HAP client;
//  5. receives the ride request in `ambulance` format, checks its signature and idempotency key;
//  6. answers it as the RAV does: GEACCEPTEERD with a ride number; and shows what the HAP now sees.
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const gateway = (process.env.GATEWAY_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
const examples = join(import.meta.dirname, '..', 'openapi', 'examples');
const RAV_URA = '90004567';
const clientId = `rav-voorbeeld-${Date.now().toString(36)}`;

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

// 1. A key pair; the public half goes to the gateway through the operator CLI.
step('1. key pair and registration with the operator CLI');
const { publicKey, privateKey } = await generateKeyPair('ES384');
const kid = 'key-1';
const dir = mkdtempSync(join(tmpdir(), 'rav-client-'));
writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' }] }));
console.log(
  execFileSync(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'register-client', '--client-id', clientId, '--ura', RAV_URA, '--name', 'RAV Noordoost', '--jwks', join(dir, 'jwks.json')], {
    env: { ...process.env, GATEWAY_URL: gateway },
    encoding: 'utf8',
  }).trim(),
);

// 2. A token: a signed assertion (aud = the token URL, short-lived, unique jti) for an access token.
step('2. access token with private_key_jwt');
const tokenUrl = `${gateway}/oauth2/token`;
const assertion = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' })
  .setIssuer(clientId)
  .setSubject(clientId)
  .setAudience(tokenUrl)
  .setJti(randomUUID())
  .setExpirationTime('4m')
  .sign(privateKey);
const tokenResponse = await json<{ access_token: string; scope: string; expires_in: number }>(
  await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  }),
  'token',
);
const ravToken = tokenResponse.access_token;
console.log(`token for ${clientId}: ${tokenResponse.expires_in} s, scopes ${tokenResponse.scope}`);

// 3. A receiver for notifications, and the subscription.
step('3. subscription to handovers owned by RAV Noordoost, ambulance format');
interface Notification {
  type: string;
  eventNumber: string;
  idempotencyKey: string;
  body: string;
  signatureOk: boolean;
}
let secret = '';
const seenKeys = new Set<string>();
const notifications: Notification[] = [];
const waiting: (() => void)[] = [];
const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
const server = createServer((req, res) => {
  void readBody(req).then((body) => {
    const timestamp = String(req.headers['x-signature-timestamp'] ?? '');
    const given = Buffer.from(String(req.headers['x-signature'] ?? ''));
    const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
    const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
    const key = String(req.headers['idempotency-key'] ?? '');
    // A retry carries the same idempotency key: answer 2xx again and do the work once.
    if (!seenKeys.has(key)) {
      seenKeys.add(key);
      notifications.push({
        type: String(req.headers['x-notification-type']),
        eventNumber: String(req.headers['x-event-number']),
        idempotencyKey: key,
        body,
        signatureOk: fresh && given.length === expected.length && timingSafeEqual(given, expected),
      });
      for (const w of waiting.splice(0)) w();
    }
    res.statusCode = 200;
    res.end();
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/meldingen`;

const hapToken = (
  await json<{ access_token: string }>(
    await fetch(tokenUrl, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from('hap-vechtdal:demo-secret').toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }),
    'HAP token',
  )
).access_token;
const rav = await json<{ entry?: { resource: { id: string } }[] }>(
  await fetch(`${gateway}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${RAV_URA}`, { headers: { Authorization: `Bearer ${ravToken}` } }),
  'find RAV Noordoost',
);
const ravRef = `Organization/${rav.entry?.[0]?.resource.id}`;
const subscription = await json<{ id: string; extension?: { url: string; valueString?: string }[] }>(
  await fetch(`${gateway}/fhir/Subscription`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ravToken}`, 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Ride requests for RAV Noordoost',
      criteria: `${gateway}/fhir/SubscriptionTopic/handover`,
      _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: `Task?owner=${ravRef}` }] },
      channel: { type: 'rest-hook', endpoint, payload: 'application/x-ambulance+json' },
    }),
  }),
  'subscribe',
);
secret = subscription.extension?.find((e) => e.url.endsWith('subscription-signing-secret'))?.valueString ?? '';
console.log(`subscription ${subscription.id}, signing secret received once (${secret.length} characters)`);

async function next(type: string, ms = 10_000): Promise<Notification> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = notifications.find((n) => n.type === type);
    if (found) {
      notifications.splice(notifications.indexOf(found), 1);
      return found;
    }
    if (Date.now() > deadline) throw new Error(`no ${type} within ${ms} ms`);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      setTimeout(resolve, 250);
    });
  }
}
const handshake = await next('handshake');
console.log(`handshake received, signature ${handshake.signatureOk ? 'valid' : 'INVALID'}`);

// 4. The HAP's triage arrives at the gateway.
step('4. the HAP sends its NTS triage (U1, chest pain, ambulance)');
const nts = JSON.parse(readFileSync(join(examples, 'nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;
nts.contactId = `HAPV-VOORBEELD-${Date.now().toString(36)}`;
const sent = await fetch(`${gateway}/native/nts`, { method: 'POST', headers: { Authorization: `Bearer ${hapToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify(nts) });
await json(sent, 'send NTS');
const handoverUrl = sent.headers.get('location') ?? '';
console.log(`HTTP ${sent.status}, handover ${handoverUrl}`);

// 5. The RAV hears of it in its own format.
step('5. the RAV receives the ride request in ambulance format');
const request = await next('event-notification');
if (!request.signatureOk) throw new Error('the notification signature does not verify');
const ride = JSON.parse(request.body) as Record<string, unknown>;
console.log(`event ${request.eventNumber} (idempotency key ${request.idempotencyKey}), signature valid`);
console.log(`status ${String(ride.status)}, urgentie ${String(ride.urgentie)}, overdrachtId ${String(ride.overdrachtId)}`);

// 6. The RAV accepts with its own record; the HAP sees it in its own format.
step('6. the RAV accepts; the HAP sees the acceptance');
const answer = JSON.parse(readFileSync(join(examples, 'ambulance-antwoord-geaccepteerd.json'), 'utf8')) as Record<string, unknown>;
answer.overdrachtId = ride.overdrachtId;
answer.ritnummer = `RAVNO-2026-${String(Date.now()).slice(-6)}-1`;
answer.incidentnummer = String(answer.ritnummer).split('-')[2];
const accepted = await fetch(`${gateway}/native/ambulance`, { method: 'POST', headers: { Authorization: `Bearer ${ravToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify(answer) });
await json(accepted, 'answer');
console.log(`answer: HTTP ${accepted.status}`);
const hapView = await json<{ overdracht?: { terugkoppeling?: { status?: string; referentie?: string } } }>(
  await fetch(`${gateway}/native/nts/${String(ride.overdrachtId)}`, { headers: { Authorization: `Bearer ${hapToken}` } }),
  'HAP view',
);
console.log(`the HAP's record now says: ${JSON.stringify(hapView.overdracht?.terugkoppeling)}`);
if (hapView.overdracht?.terugkoppeling?.status !== 'GEACCEPTEERD') throw new Error('the HAP does not see the acceptance');

await fetch(`${gateway}/fhir/Subscription/${subscription.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ravToken}` } });
server.close();
console.log('\nScenario S1 done: triage sent, ride request received and verified, accepted, acceptance seen by the HAP.');
