// The AZ-IG referral message in tests: Nictiz's reference message as published, and the two organisations it names
// (RAV Utrecht, URA 00000001; Huisartsenpost Utrecht, URA 00000002) registered with clients of their own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Organization } from '@medplum/fhirtypes';
import request from 'supertest';
import { systemContext } from '../../src/context.ts';
import { DEMO_SECRET, type TestGateway } from './gateway.ts';

export const AZ_FIXTURES = join(import.meta.dirname, '../fixtures/az-ig');
export const REFERENCE_MESSAGE_FILE = join(AZ_FIXTURES, '_reference/resources/Bundle-hg-ReferralBundle-AmbulanceHAP-referral.json');
export const RAV_UTRECHT = { clientId: 'rav-utrecht', ura: '00000001', name: 'RAV Utrecht' };
export const HAP_UTRECHT = { clientId: 'hap-utrecht', ura: '00000002', name: 'Huisartsenpost Utrecht' };

/** The reference message, a fresh copy each time (tests change copies, never the file). */
export function referenceMessage(): Bundle {
  return JSON.parse(readFileSync(REFERENCE_MESSAGE_FILE, 'utf8')) as Bundle;
}

/** The reference message with another MessageHeader id: a new message (re-sends are recognised by the id). */
export function newMessage(id: string, change: (b: Bundle) => void = () => undefined): Bundle {
  const b = referenceMessage();
  const header = b.entry?.[0]?.resource;
  if (header) header.id = id;
  change(b);
  return b;
}

/** Registers the two Utrecht organisations in the directory and a client for each (secret DEMO_SECRET). */
export async function registerUtrecht(tg: TestGateway): Promise<void> {
  const repo = tg.gateway.repository(systemContext('az-ig-test'));
  for (const o of [RAV_UTRECHT, HAP_UTRECHT]) {
    const org: Organization = { resourceType: 'Organization', identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/ura', value: o.ura }], name: o.name, active: true };
    await repo.create(org, { ifNoneExist: `identifier=http://fhir.nl/fhir/NamingSystem/ura|${o.ura}` });
    await tg.gateway.auth.registerClient({ clientId: o.clientId, organizationUra: o.ura, organizationName: o.name, roles: [], scopes: ['system/*.cruds'], secret: DEMO_SECRET });
  }
}

const tokens = new Map<string, string>();
/** `Bearer <token>` for one of the Utrecht clients (or any registered client id). */
export async function bearer(tg: TestGateway, clientId: string): Promise<string> {
  const key = `${tg.databaseUrl}|${clientId}`;
  let t = tokens.get(key);
  if (!t) {
    const res = await request(tg.app).post('/oauth2/token').auth(clientId, DEMO_SECRET).type('form').send({ grant_type: 'client_credentials' });
    if (res.status !== 200) throw new Error(`No token for ${clientId}: ${res.status} ${res.text}`);
    t = (res.body as { access_token: string }).access_token;
    tokens.set(key, t);
  }
  return `Bearer ${t}`;
}

/** How many current resources of each type, and how many audit events, the database holds: "nothing stored" and "audited" as facts. */
export async function storeCounts(tg: TestGateway): Promise<{ resources: Record<string, number>; audit: number }> {
  const r = await tg.gateway.db.query<{ resource_type: string; n: string }>('SELECT resource_type, count(*) AS n FROM resources GROUP BY resource_type');
  const a = await tg.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
  return { resources: Object.fromEntries(r.rows.map((x) => [x.resource_type, Number(x.n)])), audit: Number(a.rows[0]?.n ?? 0) };
}
