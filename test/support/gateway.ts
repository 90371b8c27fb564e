// The whole gateway on a fresh test database, driven through HTTP with supertest; demo clients and their tokens.
import { createServer, type RequestListener, type Server } from 'node:http';
import request from 'supertest';
import { loadConfig } from '../../src/config.ts';
import { URA_SYSTEM } from '../../src/fhir/identifier-systems.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { Contract } from './contract.ts';
import { createTestDatabase } from './database.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';

export const DEMO_SECRET = 'demo-secret';

/** The demo clients and the URA of the organisation each acts for. */
export const DEMO_CLIENTS = {
  'hap-vechtdal': '90001234',
  'rav-noordoost': '90004567',
  'vvt-ijsseldelta': '90007890',
  'vvt-sallandse-heuvelrug': '90007891',
  'zcc-ijsselland': '90009999',
  auditor: '90009999',
} as const;

export type DemoClient = keyof typeof DEMO_CLIENTS;

export interface TestGateway {
  gateway: Gateway;
  /** The gateway's request handler; every response through it is checked against /openapi.json (contract.ts). */
  app: RequestListener & { listen(port: number, host?: string, callback?: () => void): Server };
  /** The gateway's OpenAPI description, as served. */
  contract: Contract;
  /** A bearer token for a demo client (cached per client and scope). */
  token(client?: DemoClient, scope?: string): Promise<string>;
  /** `Bearer <token>`, ready for an Authorization header. */
  auth(client?: DemoClient, scope?: string): Promise<string>;
  /** `Organization/<id>` of a seeded demo organisation, by client id or URA. */
  organizationRef(clientOrUra: DemoClient | string): Promise<string>;
  /** The database's connection string (empty on PGlite). */
  databaseUrl: string;
  stop(): Promise<void>;
}

/** Starts a gateway in demo mode on its own database. `env` adds or overrides configuration (e.g. MAX_BODY_BYTES). */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const testDb = await createTestDatabase({ prefix: 'gw' });
  let gateway: Gateway;
  try {
    gateway = await createGateway(loadConfig({ DEMO: '1', DEMO_CLIENT_SECRET: DEMO_SECRET, PUBLIC_URL: 'http://gateway.test', LOG_LEVEL: 'silent', ...env }), { db: testDb.db });
  } catch (err) {
    await testDb.drop();
    throw err;
  }
  return testGateway(gateway, () => testDb.drop(), testDb.url);
}

/**
 * Another instance on the database of `first` (its own pool and LISTEN connections, its own caches), as a
 * second process would be; `env` may configure it differently (an operator's change). Stopping it leaves the database.
 */
export async function startSecondInstance(first: TestGateway, env: Record<string, string> = {}): Promise<TestGateway> {
  if (!first.databaseUrl) throw new Error('A second instance needs PostgreSQL (PGlite is one connection)');
  const db = new PostgresDatabase({ connectionString: first.databaseUrl, maxConnections: 5 });
  const gateway = await createGateway(loadConfig({ DEMO: '1', DEMO_CLIENT_SECRET: DEMO_SECRET, PUBLIC_URL: 'http://gateway.test', LOG_LEVEL: 'silent', ...env }), { db });
  return testGateway(gateway, async () => undefined, first.databaseUrl);
}

async function testGateway(gateway: Gateway, drop: () => Promise<void>, databaseUrl: string): Promise<TestGateway> {
  const served = await request(gateway.app).get('/openapi.json');
  if (served.status !== 200) throw new Error(`GET /openapi.json: ${served.status} ${served.text}`);
  const contract = new Contract(served.body);
  const handler = contract.recording(gateway.app as unknown as RequestListener);
  // `listen` as express has it, for tests that need a real port.
  const app = Object.assign(handler, { listen: (port: number, host?: string, callback?: () => void): Server => createServer(handler).listen(port, host, callback) });
  const tokens = new Map<string, Promise<string>>();
  const organizations = new Map<string, string>();

  const fetchToken = async (client: DemoClient, scope?: string): Promise<string> => {
    const form: Record<string, string> = { grant_type: 'client_credentials' };
    if (scope) form.scope = scope;
    const res = await request(app).post('/oauth2/token').auth(client, DEMO_SECRET).type('form').send(form);
    if (res.status !== 200) throw new Error(`No token for ${client}: ${res.status} ${res.text}`);
    return (res.body as { access_token: string }).access_token;
  };

  const token = (client: DemoClient = 'hap-vechtdal', scope?: string): Promise<string> => {
    const key = `${client} ${scope ?? ''}`;
    let t = tokens.get(key);
    if (!t) {
      t = fetchToken(client, scope);
      tokens.set(key, t);
      t.catch(() => tokens.delete(key));
    }
    return t;
  };

  return {
    gateway,
    app,
    contract,
    token,
    auth: async (client, scope) => `Bearer ${await token(client, scope)}`,
    organizationRef: async (clientOrUra) => {
      const ura = (DEMO_CLIENTS as Record<string, string>)[clientOrUra] ?? clientOrUra;
      const known = organizations.get(ura);
      if (known) return known;
      const res = await request(app)
        .get('/fhir/Organization')
        .query({ identifier: `${URA_SYSTEM}|${ura}` })
        .set('Authorization', `Bearer ${await token()}`);
      const id = (res.body as { entry?: { resource: { id: string } }[] }).entry?.[0]?.resource.id;
      if (res.status !== 200 || !id) throw new Error(`No demo Organization with URA ${ura}: ${res.status} ${res.text}`);
      organizations.set(ura, `Organization/${id}`);
      return `Organization/${id}`;
    },
    databaseUrl,
    stop: async () => {
      await gateway.close().catch(() => undefined);
      await drop();
    },
  };
}
