// Nictiz's own TestScripts for AMB-naar-HAP, run against the gateway by a small runner (test/support/testscript.ts),
// fixtures and asserts read from the files as published (test/fixtures/az-ig).
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { loadMessageRules } from '../../src/messaging/rules.ts';
import { ROOT_DIR } from '../../src/gateway.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { AZ_FIXTURES, bearer, RAV_UTRECHT, registerUtrecht } from '../support/az-ig.ts';
import { runTestScript } from '../support/testscript.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
  await registerUtrecht(tg);
}, 60_000);
afterAll(async () => tg?.stop());

const rules = loadMessageRules(join(ROOT_DIR, 'profiles/az-ig/referral-message.json'));
const validate = (url: string, resource: Resource) => {
  if (url !== rules.profiles.Bundle) throw new Error(`no rules for profile ${url}`);
  return rules.check(resource as never);
};

async function post(resource: string, body: Resource): Promise<number> {
  const res = await request(tg.app).post(`/fhir/${resource}`).set('Authorization', await bearer(tg, RAV_UTRECHT.clientId)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
  return res.status;
}

it("Nictiz's receiver TestScript passes against the gateway", async () => {
  const results = await runTestScript(join(AZ_FIXTURES, 'Receiving-System/TestScript-hg-TestScript-AmbulanceHAP-Receiver.json'), {
    perform: async (op, fixture) => {
      if (op.type !== 'create' || !fixture) throw new Error(`unexpected operation ${op.type}`);
      return { request: fixture, status: await post(op.resource, fixture) };
    },
    validate,
  });
  expect(results.length).toBeGreaterThan(0);
  expect(results.filter((r) => !r.passed)).toEqual([]);
});

