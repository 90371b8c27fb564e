// The authorization matrix, generated: every demo client × every resource of three handovers (each type) ×
// every interaction, with the expected answer per cell computed from who is party; and zero leaks: no answer
// to a client carries the id (or BSN) of anything it may not read, and a non-party's answer is the same as
// for an id that does not exist.
import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { systemContext } from '../../src/context.ts';
import { DEMO_CLIENTS, startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask, unique } from '../support/fhir-builders.ts';
import { BSN_SYSTEM, example, fillHandover, nativeClient, setBsn, uniqueBsn, uniqueRide, type Native } from '../support/native.ts';
import { exampleOf, fhirClient } from '../fhir/helpers.ts';

/** The format each demo client's system speaks. */
const OWN_FORMAT: Record<string, string> = {
  'hap-vechtdal': 'nts',
  'rav-noordoost': 'ambulance',
  'vvt-ijsseldelta': 'vvt',
  'vvt-sallandse-heuvelrug': 'vvt',
  'zcc-ijsselland': 'vvt',
  auditor: 'vvt',
};

const FHIR_JSON = 'application/fhir+json';
const CLIENTS = Object.keys(DEMO_CLIENTS) as DemoClient[];
/** Clients that read every handover of the region. */
const READS_ALL: DemoClient[] = ['zcc-ijsselland', 'auditor'];
const PROTECTED = ['Task', 'ServiceRequest', 'Encounter', 'Observation', 'Provenance', 'Patient'];

interface Handover {
  name: string;
  /** URAs of the organisations party to it. */
  parties: string[];
  /** Type/id of every resource of the handover. */
  resources: string[];
  task: string;
  bsn: string;
}

let tg: TestGateway;
let native: Native;
const handovers: Handover[] = [];

const system = () => tg.gateway.repository(systemContext('matrix'));

/** Every resource of a handover, found as the gateway: Task, its request, encounters, patient, observations, provenance. */
async function collect(name: string, taskId: string, parties: string[], bsn: string): Promise<Handover> {
  const repo = system();
  const task = (await repo.read('Task', taskId)).content as Task;
  const refs = new Set<string>([`Task/${taskId}`]);
  for (const r of [task.focus?.reference, task.encounter?.reference, task.for?.reference]) if (r) refs.add(r);
  const search = async (type: string, query: Record<string, string[]>) =>
    (await repo.search({ ...repo.parseSearch(type, query), count: 100, total: 'none' })).resources.map((v) => `${type}/${v.id}`);
  const encounters = [...(task.encounter?.reference ? [task.encounter.reference] : []), ...(await search('Encounter', { 'based-on': [task.focus!.reference!] }))];
  for (const e of encounters) {
    refs.add(e);
    for (const o of await search('Observation', { encounter: [e] })) refs.add(o);
  }
  for (const r of [...refs]) if (!r.startsWith('Patient/')) for (const p of await search('Provenance', { target: [r] })) refs.add(p);
  return { name, parties, resources: [...refs], task: `Task/${taskId}`, bsn };
}

beforeAll(async () => {
  tg = await startTestGateway();
  native = nativeClient(tg);

  // 1. HAP → RAV (S1), accepted by the RAV: the RAV's own encounter and findings join the handover.
  const s1 = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const answer = fillHandover(setBsn('ambulance', example('ambulance-antwoord-geaccepteerd.json'), s1.bsn), s1.taskId);
  Object.assign(answer, uniqueRide());
  await native.sendOk('ambulance', answer, 'rav-noordoost');
  handovers.push(await collect('HAP→RAV', s1.taskId, ['90001234', '90004567'], s1.bsn));

  // 2. ZCC → Thuiszorg IJsseldelta (native vvt request).
  const s2 = await native.createHandover('vvt-aanvraag-van-zcc.json', 'zcc-ijsselland');
  handovers.push(await collect('ZCC→VVT', s2.taskId, ['90009999', '90007890'], s2.bsn));

  // 3. RAV asks both VVT organisations at once through the FHIR API (S4): two candidate Tasks in one group.
  const fhir = await fhirClient(tg, 'rav-noordoost');
  const bsn = uniqueBsn();
  const requester = await tg.organizationRef('rav-noordoost');
  const patient = `Patient/${(await fhir.create(buildPatient({ identifier: [{ system: BSN_SYSTEM, value: bsn }] }))).id}`;
  const group = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${unique('group')}` };
  const encounter = `Encounter/${(await fhir.create(buildEncounter({ patient, serviceProvider: requester }))).id}`;
  const tasks: string[] = [];
  for (const client of ['vvt-ijsseldelta', 'vvt-sallandse-heuvelrug'] as const) {
    const owner = await tg.organizationRef(client);
    const sr = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    tasks.push((await fhir.create(buildTask({ focus: sr, patient, requester, owner, encounter }, { groupIdentifier: group }))).id!);
  }
  await fhir.create(exampleOf('Observation', { patient, encounter, serviceRequest: '', task: '', requester, owner: requester }, unique('obs')));
  for (const id of tasks) handovers.push(await collect(`RAV→VVT candidates (${id})`, id, ['90004567', '90007890', '90007891'], bsn));
}, 120_000);

afterAll(async () => {
  await tg?.stop();
});

const get = async (client: DemoClient, path: string) => request(tg.app).get(path).set('Authorization', await tg.auth(client)).set('Accept', FHIR_JSON);

function mayRead(client: DemoClient, h: Handover): boolean {
  return READS_ALL.includes(client) || h.parties.includes(DEMO_CLIENTS[client]);
}

/** What `client` may not read: ids and BSNs of every handover it is not party to (and not shared with one it is). */
function forbiddenTokens(client: DemoClient): string[] {
  const visible = new Set(handovers.filter((h) => mayRead(client, h)).flatMap((h) => h.resources));
  const visibleBsn = new Set(handovers.filter((h) => mayRead(client, h)).map((h) => h.bsn));
  const hidden = handovers.filter((h) => !mayRead(client, h));
  return [...new Set([...hidden.flatMap((h) => h.resources.filter((r) => !visible.has(r)).map((r) => r.split('/')[1]!)), ...hidden.map((h) => h.bsn).filter((b) => !visibleBsn.has(b))])];
}

/** `named`: ids the request itself named, which an answer may echo ("Task/x is not known") without telling anything. */
function expectNoLeak(client: DemoClient, what: string, text: string, named: string[] = []): void {
  const leaked = forbiddenTokens(client).filter((t) => !named.includes(t) && text.includes(t));
  expect({ client, what, leaked }).toEqual({ client, what, leaked: [] });
}

/** The same request on an id that never existed: what a non-party must get, status and wording alike. */
async function unknownAnswer(res: request.Response, id: string, replay: (id: string) => Promise<request.Response>): Promise<void> {
  const never = `never-${unique('id')}`.slice(0, 60);
  const other = await replay(never);
  expect({ status: res.status, text: res.text.replaceAll(id, 'ID') }).toEqual({ status: other.status, text: other.text.replaceAll(never, 'ID') });
}

interface Cell {
  client: DemoClient;
  handover: string;
  resource: string;
  interaction: string;
  expected: number | 'listed' | 'absent';
}

const cells: Cell[] = [];

describe('authorization matrix', () => {
  it('covers every demo client, every protected type and every interaction', async () => {
    for (const h of handovers) {
      const types = new Set(h.resources.map((r) => r.split('/')[0]));
      expect({ handover: h.name, task: types.has('Task'), patient: types.has('Patient') }).toEqual({ handover: h.name, task: true, patient: true });
    }
    const all = new Set(handovers.flatMap((h) => h.resources.map((r) => r.split('/')[0])));
    for (const type of PROTECTED) expect({ type, present: all.has(type) }).toEqual({ type, present: true });
  });

  it.each(CLIENTS)('%s: read, vread, history, search, _include, update, patch, delete and native GET answer as its party status says', async (client) => {
    const token = await tg.auth(client);
    for (const h of handovers) {
      const party = h.parties.includes(DEMO_CLIENTS[client]);
      const reads = mayRead(client, h);
      for (const ref of h.resources) {
        const [type, id] = ref.split('/') as [string, string];
        const cell = (interaction: string, expected: Cell['expected']) => cells.push({ client, handover: h.name, resource: ref, interaction, expected });

        // read, vread, instance history
        for (const [interaction, path] of [['read', `/fhir/${ref}`], ['vread', `/fhir/${ref}/_history/1`], ['history', `/fhir/${ref}/_history`]] as const) {
          const res = await get(client, path);
          const expected = reads ? 200 : 404;
          cell(interaction, expected);
          expect({ client, ref, interaction, status: res.status }).toEqual({ client, ref, interaction, status: expected });
          expectNoLeak(client, `${interaction} ${ref}`, res.text, [id]);
          if (!reads) await unknownAnswer(res, id, (other) => get(client, path.replace(id, other)));
        }

        // search by _id
        const found = await get(client, `/fhir/${type}?_id=${id}`);
        expect(found.status).toBe(200);
        const ids = ((found.body as Bundle).entry ?? []).map((e) => e.resource?.id);
        cell('search', reads ? 'listed' : 'absent');
        expect({ client, ref, search: ids.includes(id) }).toEqual({ client, ref, search: reads });
        expectNoLeak(client, `search ${ref}`, found.text, [id]);

        // update: the stored content sent back unchanged
        const current = (await system().read(type, id)).content as Resource;
        const put = await request(tg.app).put(`/fhir/${ref}`).set('Authorization', token).set('Content-Type', FHIR_JSON).send(JSON.stringify(current));
        const serverOwned = type === 'Provenance';
        const expectedPut = client === 'auditor' ? 403 : serverOwned ? 405 : party ? 200 : reads ? 403 : 405;
        cell('update', expectedPut);
        expect({ client, ref, interaction: 'update', status: put.status }).toEqual({ client, ref, interaction: 'update', status: expectedPut });
        expectNoLeak(client, `update ${ref}`, put.text, [id]);
        if (!reads && !serverOwned && client !== 'auditor') {
          await unknownAnswer(put, id, (other) =>
            request(tg.app).put(`/fhir/${type}/${other}`).set('Authorization', token).set('Content-Type', FHIR_JSON).send(JSON.stringify({ ...current, id: other })),
          );
        }

        // patch and delete with a version that cannot match: a party learns 412, nothing is changed either way
        for (const interaction of ['patch', 'delete'] as const) {
          const send = (target: string) => {
            const t = interaction === 'patch' ? request(tg.app).patch(`/fhir/${type}/${target}`) : request(tg.app).delete(`/fhir/${type}/${target}`);
            t.set('Authorization', token).set('If-Match', 'W/"999"');
            return interaction === 'patch' ? t.set('Content-Type', 'application/json-patch+json').send(JSON.stringify([{ op: 'add', path: '/language', value: 'nl' }])) : t;
          };
          const res = await send(id);
          const expected = client === 'auditor' ? 403 : serverOwned ? 405 : party ? 412 : reads ? 403 : 404;
          cell(interaction, expected);
          expect({ client, ref, interaction, status: res.status }).toEqual({ client, ref, interaction, status: expected });
          expectNoLeak(client, `${interaction} ${ref}`, res.text, [id]);
          if (!reads && !serverOwned && client !== 'auditor') await unknownAnswer(res, id, (other) => send(other));
        }
      }

      // _include and _revinclude from the Task: only what a read would give
      const [, taskId] = h.task.split('/') as [string, string];
      const inc = await get(client, `/fhir/Task?_id=${taskId}&_include=Task:focus&_include=Task:patient&_include=Task:encounter&_include=Task:owner&_revinclude=Provenance:target`);
      expect(inc.status).toBe(200);
      const included = ((inc.body as Bundle).entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
      cells.push({ client, handover: h.name, resource: h.task, interaction: '_include', expected: reads ? 'listed' : 'absent' });
      expect({ client, task: h.task, any: included.length > 0 }).toEqual({ client, task: h.task, any: reads });
      expectNoLeak(client, `_include ${h.task}`, inc.text, [taskId]);

      // native rendering: for the handover's requester and owner, in their own format
      for (const format of ['nts', 'ambulance', 'vvt']) {
        const res = await get(client, `/native/${format}/${taskId}`);
        const task = (await system().read('Task', taskId)).content as Task;
        const [requesterUra, ownerUra] = await Promise.all([task.requester, task.owner].map(async (r) => {
          const org = (await system().read('Organization', r!.reference!.split('/')[1]!)).content as { identifier?: { system?: string; value?: string }[] };
          return org.identifier?.find((i) => i.system === 'http://fhir.nl/fhir/NamingSystem/ura')?.value;
        }));
        const perspective = DEMO_CLIENTS[client] === requesterUra || DEMO_CLIENTS[client] === ownerUra;
        // The auditor acts for the ZCC's organisation: it sees the ZCC's own handovers in their native form too.
        // A party reads in its own system's format; another format is refused (422), a non-party learns nothing (404).
        const expected = perspective ? (format === OWN_FORMAT[client] ? 200 : 422) : 404;
        cells.push({ client, handover: h.name, resource: h.task, interaction: `native GET ${format}`, expected });
        expect({ client, task: h.task, format, status: res.status }).toEqual({ client, task: h.task, format, status: expected });
        expectNoLeak(client, `native ${format} ${h.task}`, res.text, [taskId]);
        if (expected === 404) await unknownAnswer(res, taskId, (other) => get(client, `/native/${format}/${other}`));
      }

      // $trail is the auditor's (role-based: the same 403 for every id, existing or not)
      const trail = await get(client, `/fhir/${h.task}/$trail`);
      const expectedTrail = client === 'auditor' ? 200 : 403;
      cells.push({ client, handover: h.name, resource: h.task, interaction: '$trail', expected: expectedTrail });
      expect({ client, task: h.task, trail: trail.status }).toEqual({ client, task: h.task, trail: expectedTrail });
      if (client !== 'auditor') await unknownAnswer(trail, taskId, (other) => get(client, `/fhir/Task/${other}/$trail`));
    }
  }, 300_000);

  it.each(CLIENTS)('%s: type and system history and unfiltered searches carry nothing it may not read', async (client) => {
    for (const type of PROTECTED) {
      for (const path of [`/fhir/${type}?_count=200`, `/fhir/${type}/_history?_count=200`]) {
        const res = await get(client, path);
        expect({ client, path, status: res.status }).toEqual({ client, path, status: 200 });
        expectNoLeak(client, path, res.text);
      }
    }
    const all = await get(client, '/fhir/_history?_count=200');
    expect([200, 403]).toContain(all.status);
    expectNoLeak(client, 'system history', all.text);
  });

  it('a transaction or batch entry is authorized as the same request on its own', async () => {
    const hidden = handovers.find((h) => !h.parties.includes(DEMO_CLIENTS['vvt-sallandse-heuvelrug']))!;
    const token = await tg.auth('vvt-sallandse-heuvelrug');
    for (const type of ['batch', 'transaction']) {
      const bundle = { resourceType: 'Bundle', type, entry: hidden.resources.map((r) => ({ request: { method: 'GET', url: r } })) };
      const res = await request(tg.app).post('/fhir').set('Authorization', token).set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle));
      if (type === 'batch') {
        expect(res.status).toBe(200);
        expect(((res.body as Bundle).entry ?? []).map((e) => e.response?.status)).toEqual(hidden.resources.map(() => '404'));
      } else {
        expect(res.status).toBe(404);
      }
      expectNoLeak('vvt-sallandse-heuvelrug', `${type} of reads`, res.text, hidden.resources.map((r) => r.split('/')[1]!));
    }
  });

  it('reports the matrix: cells per client and interaction', () => {
    const byInteraction = new Map<string, number>();
    for (const c of cells) byInteraction.set(c.interaction, (byInteraction.get(c.interaction) ?? 0) + 1);
    // Every client × every resource of every handover × 7 interactions, plus _include, 3 native formats and $trail per handover.
    expect(cells.length).toBe(CLIENTS.length * (handovers.reduce((n, h) => n + h.resources.length, 0) * 7 + handovers.length * 5));
    expect(new Set(cells.map((c) => c.client)).size).toBe(CLIENTS.length);
  });
});
