// What the real-client tests share: the gateway listening on loopback (real clients speak HTTP, not supertest),
// a token the way a SMART backend service gets one (client_credentials, client_secret_basic), and a handover's
// resources built for the demo organisations.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Bundle, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { DEMO_SECRET, startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';

export interface Listening {
  tg: TestGateway;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  fhirBase: string;
  stop(): Promise<void>;
}

export async function listeningGateway(env: Record<string, string> = {}): Promise<Listening> {
  const tg = await startTestGateway(env);
  const server: Server = await new Promise((resolve) => {
    const s = tg.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    tg,
    origin,
    fhirBase: `${origin}/fhir`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await tg.stop();
    },
  };
}

/** A token by client_credentials with client_secret_basic, over HTTP as any SMART backend service would ask. */
export async function clientCredentialsToken(origin: string, client: DemoClient): Promise<string> {
  const res = await fetch(`${origin}/oauth2/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${client}:${DEMO_SECRET}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (res.status !== 200) throw new Error(`token for ${client}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Patient, ServiceRequest and Task of a handover from HAP Vechtdal to RAV Noordoost, as one transaction with urn:uuid fullUrls. */
export function handoverTransaction(refs: { requester: string; owner: string }, absolute = false): Bundle & { type: 'transaction' } {
  const url = (type: string, n: number): string => (absolute ? `http://nictiz.nl/fhir/${type}/client-${n}-${Date.now()}` : `urn:uuid:${crypto.randomUUID()}`);
  const patientUrl = url('Patient', 1);
  const requestUrl = url('ServiceRequest', 2);
  // With absolute fullUrls the entries reference each other as Type/id, the way the Nictiz material is written.
  const ref = (full: string): string => (absolute ? full.replace(/^http:\/\/nictiz\.nl\/fhir\//, '') : full);
  const patient: Patient = buildPatient();
  const request: ServiceRequest = buildServiceRequest({ patient: ref(patientUrl), requester: refs.requester, performer: refs.owner });
  const task: Task = buildTask({ focus: ref(requestUrl), patient: ref(patientUrl), requester: refs.requester, owner: refs.owner });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: patientUrl, resource: patient, request: { method: 'POST', url: 'Patient' } },
      { fullUrl: requestUrl, resource: request, request: { method: 'POST', url: 'ServiceRequest' } },
      { resource: task, request: { method: 'POST', url: 'Task' } },
    ],
  };
}

/** The id part of `Type/id` or of a Location URL `…/Type/id/_history/n`. */
export function idOf(location: string | undefined): string {
  const m = /([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(location ?? '');
  if (!m) throw new Error(`no id in ${String(location)}`);
  return m[2];
}
