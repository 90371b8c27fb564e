// The description and the documentation page are served by the gateway itself, without a token.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(() => tg.stop());

test('GET /openapi.json is the assembled OpenAPI 3.1 description, no token needed', async () => {
  const res = await request(tg.app).get('/openapi.json').expect(200).expect('Content-Type', /application\/json/);
  const doc = res.body as { openapi: string; servers: { url: string }[]; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
  expect(doc.openapi).toBe('3.1.0');
  expect(doc.servers).toEqual([{ url: 'http://gateway.test' }]);
  expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/native/nts', '/fhir/{type}', '/oauth2/token', '/health/ready']));
  // The native schemas come from mappings/ (one source): no file references are left in what is served.
  expect(doc.components.schemas.NtsRecord).toBeDefined();
  expect(JSON.stringify(doc)).not.toMatch(/"\$ref":"\.\.?\//);
  expect(JSON.stringify(doc)).not.toContain('externalValue');
});

test('GET /docs is Swagger UI from the gateway itself, under a strict Content-Security-Policy', async () => {
  const page = await request(tg.app).get('/docs').expect(200).expect('Content-Type', /text\/html/);
  const csp = page.headers['content-security-policy'];
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe');
  // Nothing from another origin.
  expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//);
  for (const m of page.text.matchAll(/(?:src|href)="([^"]+)"/g)) {
    await request(tg.app).get(`/${m[1]}`).expect(200);
  }
  await request(tg.app).get('/docs/init.js').expect(200).expect('Content-Type', /javascript/);
  await request(tg.app).get('/docs/').expect(301).expect('Location', '../docs');
  // Only the files the page needs: not the package's own index.html (which loads a demo API from the internet).
  await request(tg.app).get('/docs/index.html').expect(404);
  await request(tg.app).get('/docs/package.json').expect(404);
});
