// Twiin TA Workflow (issue 18): the IG's own examples (test/fixtures/twiin, see SOURCE.md) as a scenario — owners
// by HealthcareService identifier, the placer inviting candidates and selecting one, the others cancelled
// "not selected" — and the placer's selection racing against another selection.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HealthcareService, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { startTestGateway, DEMO_CLIENTS, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { expectOutcome, fhirClient, type Fhir } from './helpers.ts';
import { receiversForFile, subscribe, type Receiver } from '../support/receiver.ts';
import request from 'supertest';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'twiin');
const TA = 'https://fhir.twiin.nl/ig/workflow/CodeSystem/ta-workflow';
const PLACER: DemoClient = 'hap-vechtdal';
const CANDIDATE_A: DemoClient = 'vvt-ijsseldelta';
const CANDIDATE_B: DemoClient = 'vvt-sallandse-heuvelrug';

/** An IG example with the IG's URAs replaced by the demo organisations' (SOURCE.md says what changes). */
function fixture<T>(name: string, replace: Record<string, string> = {}): T {
  let text = readFileSync(join(FIXTURES, `${name}.json`), 'utf8');
  const uras: Record<string, string> = { '12345678': DEMO_CLIENTS[PLACER], '87654321': DEMO_CLIENTS[CANDIDATE_A], '11223344': DEMO_CLIENTS[CANDIDATE_B], ...replace };
  for (const [from, to] of Object.entries(uras)) text = text.split(`"${from}"`).join(`"${to}"`);
  const resource = JSON.parse(text) as { id?: string };
  delete resource.id;
  return resource as T;
}

let tg: TestGateway;
let placer: Fhir;
let a: Fhir;
let b: Fhir;

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', ADMIN_TOKEN: 'operator-secret' });
  [placer, a, b] = await Promise.all([fhirClient(tg, PLACER), fhirClient(tg, CANDIDATE_A), fhirClient(tg, CANDIDATE_B)]);
});
afterAll(async () => {
  await tg?.stop();
});

interface Request {
  patient: string;
  serviceRequest: string;
  serviceA: string;
  serviceB: string;
  group: string;
}

/** Patient and ServiceRequest of the placer, the candidates' HealthcareServices with the IG's identifiers (a suffix each). */
async function setUp(): Promise<Request> {
  const suffix = randomUUID().slice(0, 8);
  const patient = `Patient/${(await placer.create(fixture<Patient>('patient'))).id}`;
  const sr = fixture<ServiceRequest>('servicerequest');
  sr.subject = { reference: patient };
  const serviceRequest = `ServiceRequest/${(await placer.create(sr)).id}`;
  const serviceA = `wondzorg-thuis-${suffix}`;
  const serviceB = `wijkverpleging-noord-${suffix}`;
  await a.create<HealthcareService>({ resourceType: 'HealthcareService', identifier: [{ system: 'https://fulfiller-a.example.org/healthcareservice', value: serviceA }], name: 'Wondzorg thuis', providedBy: { reference: await tg.organizationRef(CANDIDATE_A) } });
  await b.create<HealthcareService>({ resourceType: 'HealthcareService', identifier: [{ system: 'https://fulfiller-b.example.org/healthcareservice', value: serviceB }], name: 'Wijkverpleging noord', providedBy: { reference: await tg.organizationRef(CANDIDATE_B) } });
  return { patient, serviceRequest, serviceA, serviceB, group: `twiin-${suffix}` };
}

/**
 * The IG's invitation (Coordination Task, request-fulfillment, no `for`) to candidate A or B. As the IG sends it, it
 * has no groupIdentifier: the invitations for one ServiceRequest are one group (src/handover/candidate-group.ts).
 * `grouped` adds one, as a placer may (then the groupIdentifier decides the group).
 */
async function invite(r: Request, candidate: 'A' | 'B', grouped = false): Promise<Task> {
  const task = fixture<Task>('coordination-task-invited');
  task.focus = { reference: r.serviceRequest };
  if (grouped) task.groupIdentifier = { system: 'https://placer.example.org/task-group', value: r.group };
  task.identifier = [{ system: 'https://placer.example.org/task', value: randomUUID() }];
  if (candidate === 'A') {
    if (task.owner?.identifier) task.owner.identifier.value = r.serviceA;
  } else {
    task.owner = { ...fixture<Task>('coordination-task-not-selected').owner, identifier: { ...fixture<Task>('coordination-task-not-selected').owner?.identifier, value: r.serviceB } };
    delete task.location;
  }
  const res = await placer.post('Task', task);
  if (res.status !== 201) throw new Error(`invitation ${candidate}: ${res.status} ${res.text}`);
  return res.body as Task;
}

/** The selecting update as the IG's selected example shows it: code fulfill, businessStatus selected, for set. */
function selection(task: Task, patient: string): Task {
  const selected = fixture<Task>('coordination-task-selected');
  return { ...task, status: 'accepted', code: selected.code, businessStatus: selected.businessStatus, for: { reference: patient }, output: selected.output };
}

describe('Twiin TA Workflow: the placer selects', () => {
  it('accepts the IG invitation with owner a HealthcareService identifier: the owner kept as sent, its providing Organization the receiver', async () => {
    const r = await setUp();
    const task = await invite(r, 'A');
    // As sent (type and identifier), with the literal reference to the service added, as a URA gains its Organization's.
    expect(task.owner?.type).toBe('HealthcareService');
    expect(task.owner?.identifier?.value).toBe(r.serviceA);
    expect(task.owner?.reference).toMatch(/^HealthcareService\//);
    expect(task.owner?.extension).toBeUndefined();
    expect(task.for).toBeUndefined();
    expect(task.location?.identifier?.value).toBe('vestiging-centrum');
    expect(task.input).toEqual(fixture<Task>('coordination-task-invited').input);
    // The organisation behind the service is the party: it reads the Task, finds it by owner=Organization/… and by URA.
    expect((await a.get(`Task/${task.id}`)).status).toBe(200);
    const orgA = await tg.organizationRef(CANDIDATE_A);
    const found = async (query: string): Promise<string[]> => (((await a.get(`Task?_id=${task.id}&${query}`)).body as { entry?: { resource: Task }[] }).entry ?? []).map((e) => e.resource.id ?? '');
    expect(await found(`owner=${orgA}`)).toEqual([task.id]);
    expect(await found(`owner:identifier=${encodeURIComponent(`http://fhir.nl/fhir/NamingSystem/ura|${DEMO_CLIENTS[CANDIDATE_A]}`)}`)).toEqual([task.id]);
    expect(await found(`owner:identifier=${encodeURIComponent(`https://fulfiller-a.example.org/healthcareservice|${r.serviceA}`)}`)).toEqual([task.id]);
    expect(await found(`owner=${await tg.organizationRef(CANDIDATE_B)}`)).toEqual([]);
    // A reindex (/admin/reindex, `handover-gateway reindex`) keeps what the gateway derives: still found by its organisation.
    let after: string | null | undefined;
    do {
      const batch = await request(tg.app).post('/admin/reindex').query({ count: '5000', ...(after ? { after } : {}) }).set('Authorization', 'Bearer operator-secret');
      expect(batch.status).toBe(200);
      after = (batch.body as { next: string | null }).next;
    } while (after);
    expect(await found(`owner=${orgA}`)).toEqual([task.id]);
    // Another organisation does not read it.
    expect((await b.get(`Task/${task.id}`)).status).toBe(404);
  });

  it('reads back an invitation exactly as sent: every element, the owner included (only the resolved literal references added)', async () => {
    const r = await setUp();
    const sent = fixture<Task>('coordination-task-invited');
    sent.focus = { reference: r.serviceRequest };
    if (sent.owner?.identifier) sent.owner.identifier.value = r.serviceA;
    const created = await placer.post('Task', sent);
    expect(created.status).toBe(201);
    const stored = (await a.get(`Task/${(created.body as Task).id}`)).body as Task;
    const { id: _id, meta: _meta, ...readBack } = stored;
    const service = `HealthcareService/${((await a.get(`HealthcareService?identifier=${encodeURIComponent(`https://fulfiller-a.example.org/healthcareservice|${r.serviceA}`)}`)).body as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
    expect(readBack).toEqual({
      ...sent,
      owner: { ...sent.owner, reference: service },
      requester: { ...sent.requester, reference: await tg.organizationRef(PLACER) },
    });
  });

  it.each([
    ['as the IG sends it, without groupIdentifier (the group is the focus ServiceRequest)', false],
    ['with a groupIdentifier the placer added', true],
  ])('runs the IG scenario %s: invite two, both accept, the placer selects one, the other is cancelled not selected, the selected completes', async (_how, grouped) => {
    const r = await setUp();
    const taskA = await invite(r, 'A', grouped);
    const taskB = await invite(r, 'B', grouped);
    expect([taskA.groupIdentifier !== undefined, taskB.groupIdentifier !== undefined]).toEqual([grouped, grouped]);
    const acceptedA = await a.put(`Task/${taskA.id}`, { ...taskA, status: 'accepted' });
    expect(acceptedA.status).toBe(200);
    const acceptedB = await b.put(`Task/${taskB.id}`, { ...taskB, status: 'accepted' });
    expect(acceptedB.status).toBe(200);
    // Accepting an invitation is an answer, not the choice: the other candidate stays accepted.
    expect(((await b.get(`Task/${taskB.id}`)).body as Task).status).toBe('accepted');
    // Before the selection the candidate may not start.
    expect(expectOutcome(await a.put(`Task/${taskA.id}`, { ...acceptedA.body, status: 'in-progress' }), 422).issue?.[0]?.expression).toEqual(['Task.status']);
    // Only the placer selects.
    expect(expectOutcome(await a.put(`Task/${taskA.id}`, selection(acceptedA.body as Task, r.patient)), 422).issue?.[0]?.diagnostics).toContain('placer');
    const selected = await placer.put(`Task/${taskA.id}`, selection(acceptedA.body as Task, r.patient));
    expect(selected.status).toBe(200);
    expect((selected.body as Task).businessStatus?.coding?.[0]?.code).toBe('selected');
    const other = (await b.get(`Task/${taskB.id}`)).body as Task;
    expect(other.status).toBe('cancelled');
    expect(other.statusReason).toEqual({ coding: [{ system: TA, code: 'not-selected', display: 'Not selected' }], text: 'not selected' });
    // Never two selected: the cancelled candidate cannot be selected any more.
    expect((await placer.put(`Task/${taskB.id}`, selection(other, r.patient))).status).toBe(422);
    const started = await a.put(`Task/${taskA.id}`, { ...(selected.body as Task), status: 'in-progress' });
    expect(started.status).toBe(200);
    const done = await a.put(`Task/${taskA.id}`, { ...(started.body as Task), status: 'completed' });
    expect(done.status).toBe(200);
  });

  it('without groupIdentifier only the invitations of that ServiceRequest are the group: another request, or a region Task on it, is not', async () => {
    const r = await setUp();
    const other = await setUp();
    const taskA = await invite(r, 'A');
    const taskB = await invite(r, 'B');
    const elsewhere = await invite({ ...other, serviceB: r.serviceB }, 'B');
    // A region handover (code fulfill, first accept wins) from the same placer to B about the same request.
    const region = await placer.create<Task>({ ...fixture<Task>('coordination-task-invited'), code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] }, for: { reference: r.patient }, focus: { reference: r.serviceRequest }, owner: { reference: await tg.organizationRef(CANDIDATE_B) }, input: undefined, location: undefined });
    const acceptedA = (await a.put(`Task/${taskA.id}`, { ...taskA, status: 'accepted' })).body as Task;
    await b.put(`Task/${elsewhere.id}`, { ...elsewhere, status: 'accepted' });
    expect((await placer.put(`Task/${taskA.id}`, selection(acceptedA, r.patient))).status).toBe(200);
    const status = async (t: Task): Promise<string | undefined> => ((await placer.get(`Task/${t.id}`)).body as Task).status;
    expect([await status(taskB), await status(elsewhere), await status(region)]).toEqual(['cancelled', 'accepted', 'requested']);
    // The other request's group chooses on its own: its accepted candidate can still be selected.
    const acceptedElsewhere = (await placer.get(`Task/${elsewhere.id}`)).body as Task;
    expect((await placer.put(`Task/${elsewhere.id}`, selection(acceptedElsewhere, other.patient))).status).toBe(200);
  });

  it("the placer's board names the group of both kinds: the groupIdentifier, or without one the ServiceRequest the invitations share", async () => {
    const r = await setUp();
    const board = async (t: Task): Promise<unknown> => {
      const res = await request(tg.app).get(`/board/handovers/${t.id}`).set('Authorization', await tg.auth(PLACER));
      expect(res.status).toBe(200);
      return (res.body as { row: { group?: unknown } }).row.group;
    };
    const [ungroupedA, ungroupedB, grouped] = [await invite(r, 'A'), await invite(r, 'B'), await invite(r, 'A', true)];
    expect(await board(ungroupedA)).toEqual({ by: 'request', value: r.serviceRequest });
    expect(await board(ungroupedB)).toEqual({ by: 'request', value: r.serviceRequest });
    expect(await board(grouped)).toEqual({ by: 'identifier', value: r.group });
  });

  it('never selects a candidate that refused or has not accepted its invitation', async () => {
    const r = await setUp();
    const taskA = await invite(r, 'A');
    const taskB = await invite(r, 'B');
    const notYet = expectOutcome(await placer.put(`Task/${taskA.id}`, selection(taskA, r.patient)), 422);
    expect(notYet.issue?.[0]?.diagnostics).toContain('requested');
    const refusal = await b.put(`Task/${taskB.id}`, { ...taskB, status: 'rejected', statusReason: { text: 'no capacity' } });
    expect(refusal.status).toBe(200);
    expect((await placer.put(`Task/${taskB.id}`, selection(refusal.body as Task, r.patient))).status).toBe(422);
  });

  it('keeps first-accept-wins for a group of code fulfill (the pattern follows what the placer sends)', async () => {
    const r = await setUp();
    const taskA = await invite(r, 'A');
    expect(expectOutcome(await placer.put(`Task/${taskA.id}`, { ...taskA, code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] }, for: { reference: r.patient } }), 422).issue?.[0]?.expression).toEqual(['Task.code']);
  });

  it('holds the same rules in a transaction Bundle: the selection applies, a second selection is refused', async () => {
    const r = await setUp();
    const taskA = await invite(r, 'A');
    const taskB = await invite(r, 'B');
    const acceptedA = (await a.put(`Task/${taskA.id}`, { ...taskA, status: 'accepted' })).body as Task;
    const acceptedB = (await b.put(`Task/${taskB.id}`, { ...taskB, status: 'accepted' })).body as Task;
    const bundle = (t: Task): unknown => ({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: selection(t, r.patient), request: { method: 'PUT', url: `Task/${t.id}` } }] });
    expect((await placer.post('', bundle(acceptedA))).status).toBe(200);
    expect(((await b.get(`Task/${taskB.id}`)).body as Task).status).toBe('cancelled');
    expect((await placer.post('', bundle(acceptedB))).status).toBe(422);
  });

  it('races: 100 rounds of two selections at once (or a selection against a refusal): one selected, never a refused one', async () => {
    for (let round = 0; round < 100; round++) {
      const r = await setUp();
      // Half the rounds in the IG's form (the focus is the group), half with a groupIdentifier.
      const grouped = round % 4 >= 2;
      const taskA = await invite(r, 'A', grouped);
      const taskB = await invite(r, 'B', grouped);
      const acceptedA = (await a.put(`Task/${taskA.id}`, { ...taskA, status: 'accepted' })).body as Task;
      if (round % 2 === 0) {
        const acceptedB = (await b.put(`Task/${taskB.id}`, { ...taskB, status: 'accepted' })).body as Task;
        const [one, two] = await Promise.all([placer.put(`Task/${taskA.id}`, selection(acceptedA, r.patient)), placer.put(`Task/${taskB.id}`, selection(acceptedB, r.patient))]);
        expect([one.status, two.status].sort()).toEqual([200, 422]);
      } else {
        // B refuses while the placer selects A: A selected, B rejected (its own answer) or cancelled, never selected.
        const [select, refuse] = await Promise.all([
          placer.put(`Task/${taskA.id}`, selection(acceptedA, r.patient)),
          b.put(`Task/${taskB.id}`, { ...taskB, status: 'rejected', statusReason: { text: 'no capacity' } }),
        ]);
        expect(select.status).toBe(200);
        expect([200, 422]).toContain(refuse.status);
      }
      const [finalA, finalB] = [(await placer.get(`Task/${taskA.id}`)).body as Task, (await placer.get(`Task/${taskB.id}`)).body as Task];
      const selected = [finalA, finalB].filter((t) => t.businessStatus?.coding?.some((c) => c.code === 'selected'));
      expect(selected).toHaveLength(1);
      expect(selected[0]?.status).toBe('accepted');
      const loser = selected[0]?.id === finalA.id ? finalB : finalA;
      expect(['cancelled', 'rejected']).toContain(loser.status);
    }
  }, 300_000);
});

describe('Twiin TA Workflow: cancellation requests', () => {
  /** A selected, running Task of candidate A (the IG's single-fulfiller example is the same Task after selection). */
  async function running(): Promise<{ r: Request; task: Task }> {
    const r = await setUp();
    const invited = await invite(r, 'A');
    const accepted = (await a.put(`Task/${invited.id}`, { ...invited, status: 'accepted' })).body as Task;
    const selected = (await placer.put(`Task/${invited.id}`, selection(accepted, r.patient))).body as Task;
    const started = await a.put(`Task/${invited.id}`, { ...selected, status: 'in-progress' });
    expect(started.status).toBe(200);
    return { r, task: started.body as Task };
  }

  function cancellationRequest(r: Request, task: Task): Task {
    const crt = fixture<Task>('cancellation-request-task');
    crt.focus = { reference: `Task/${task.id}` };
    if (crt.owner?.identifier) crt.owner.identifier.value = r.serviceA;
    return crt;
  }

  it('the fulfiller accepts the IG Cancellation Request Task: the running Task is cancelled and the placer reads both', async () => {
    const { r, task } = await running();
    const created = await placer.post('Task', cancellationRequest(r, task));
    expect(created.status).toBe(201);
    const crt = created.body as Task;
    // Only the fulfiller decides.
    expect((await placer.put(`Task/${crt.id}`, { ...crt, status: 'accepted' })).status).toBe(422);
    expect(((await placer.get(`Task/${task.id}`)).body as Task).status).toBe('in-progress');
    const accepted = await a.put(`Task/${crt.id}`, { ...((await a.get(`Task/${crt.id}`)).body as Task), status: 'accepted' });
    expect(accepted.status).toBe(200);
    const stopped = (await placer.get(`Task/${task.id}`)).body as Task;
    expect(stopped.status).toBe('cancelled');
    expect(stopped.statusReason?.text).toContain('placer');
    expect(((await placer.get(`Task/${crt.id}`)).body as Task).status).toBe('accepted');
  });

  it('the fulfiller may refuse it: the work goes on', async () => {
    const { r, task } = await running();
    const crt = (await placer.post('Task', cancellationRequest(r, task))).body as Task;
    const refusal = await a.put(`Task/${crt.id}`, { ...((await a.get(`Task/${crt.id}`)).body as Task), status: 'rejected', statusReason: { text: 'already on the way' } });
    expect(refusal.status).toBe(200);
    expect(((await placer.get(`Task/${task.id}`)).body as Task).status).toBe('in-progress');
  });

  it('refuses a Cancellation Request Task whose focus is a ServiceRequest, or a Task of another placer or owner', async () => {
    const { r, task } = await running();
    const onRequest = { ...cancellationRequest(r, task), focus: { reference: r.serviceRequest } };
    expect(expectOutcome(await placer.post('Task', onRequest), 422).issue?.[0]?.expression).toEqual(['Task.focus']);
    const other = cancellationRequest(r, task);
    other.owner = { type: 'HealthcareService', identifier: { system: 'https://fulfiller-b.example.org/healthcareservice', value: r.serviceB } };
    expect(expectOutcome(await placer.post('Task', other), 422).issue?.[0]?.expression).toEqual(['Task.focus']);
  });

  it('the placer accepts the IG Authorization Cancellation Request Task of its fulfiller: its Task is cancelled', async () => {
    const { r, task } = await running();
    const acrt = fixture<Task>('authorization-cancellation-request-task');
    acrt.focus = { reference: r.serviceRequest };
    const created = await a.post('Task', acrt);
    expect(created.status).toBe(201);
    const proposal = created.body as Task;
    expect((await a.put(`Task/${proposal.id}`, { ...proposal, status: 'accepted' })).status).toBe(422);
    const accepted = await placer.put(`Task/${proposal.id}`, { ...((await placer.get(`Task/${proposal.id}`)).body as Task), status: 'accepted' });
    expect(accepted.status).toBe(200);
    expect(((await a.get(`Task/${task.id}`)).body as Task).status).toBe('cancelled');
    // Another organisation with no Task on that request cannot ask.
    expect((await b.post('Task', { ...acrt, requester: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/ura', value: DEMO_CLIENTS[CANDIDATE_B] } } })).status).toBe(422);
  });
});

describe('Twiin Workflow Subscription: per HealthcareService, owner:identifier, id-only', () => {
  const receiver = receiversForFile();
  /** The ids of the Tasks an id-only notification names (the receiver pulls them with its own token). */
  const taskIdsHeard = (r: Receiver): string[] =>
    r.events().flatMap((e) => ((JSON.parse(e.body) as { entry?: { fullUrl?: string }[] }).entry ?? []).map((x) => x.fullUrl ?? '')).filter((u) => u.includes('/Task/')).map((u) => u.slice(u.lastIndexOf('/') + 1));

  it('each candidate hears its own invitation and the not-selected one its cancellation, ids only, and pulls the Task', async () => {
    const r = await setUp();
    const [hearA, hearB, hearOrgA] = [await receiver(), await receiver(), await receiver()];
    // The organisation behind A's service, subscribed by its Organization: the owner is the service, the party its provider.
    await subscribe(tg, CANDIDATE_A, hearOrgA, `Task?owner=${await tg.organizationRef(CANDIDATE_A)}`, 'id-only', { heartbeat: 3600 });
    // The IG's filter form (twiin-wsub-1), bare, as the example Subscription sends it.
    await subscribe(tg, CANDIDATE_A, hearA, `owner:identifier=https://fulfiller-a.example.org/healthcareservice|${r.serviceA}`, 'id-only', { heartbeat: 3600 });
    await subscribe(tg, CANDIDATE_B, hearB, `owner:identifier=https://fulfiller-b.example.org/healthcareservice|${r.serviceB}`, 'id-only', { heartbeat: 3600 });
    const taskA = await invite(r, 'A');
    const taskB = await invite(r, 'B');
    await hearA.waitFor(() => taskIdsHeard(hearA).includes(taskA.id ?? ''), 'A hears its invitation');
    await hearB.waitFor(() => taskIdsHeard(hearB).includes(taskB.id ?? ''), 'B hears its invitation');
    await hearOrgA.waitFor(() => taskIdsHeard(hearOrgA).includes(taskA.id ?? ''), "A's organisation hears the invitation to its service");
    expect(taskIdsHeard(hearA)).not.toContain(taskB.id);
    expect(taskIdsHeard(hearOrgA)).not.toContain(taskB.id);
    // id-only: no resource in the notification.
    expect(hearA.events().every((e) => !(JSON.parse(e.body) as { entry?: { resource?: { resourceType?: string } }[] }).entry?.some((x) => x.resource?.resourceType === 'Task'))).toBe(true);
    const acceptedA = (await a.put(`Task/${taskA.id}`, { ...taskA, status: 'accepted' })).body as Task;
    await b.put(`Task/${taskB.id}`, { ...taskB, status: 'accepted' });
    const before = hearB.events().length;
    expect((await placer.put(`Task/${taskA.id}`, selection(acceptedA, r.patient))).status).toBe(200);
    await hearB.waitFor(() => hearB.events().length > before, 'B hears it was not selected');
    const pulled = (await b.get(`Task/${taskB.id}`)).body as Task;
    expect(pulled.statusReason?.coding?.[0]?.code).toBe('not-selected');
  });

  it('refuses a filter naming no HealthcareService of the directory, or one of another form', async () => {
    for (const filter of ['owner:identifier=https://nobody.example.org/healthcareservice|none', 'owner:identifier=|x']) {
      const res = await a.post('Subscription', { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'http://gateway.test/fhir/SubscriptionTopic/handover', _criteria: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria', valueString: filter }] }, channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook', payload: 'application/fhir+json' } });
      expect([filter, res.status]).toEqual([filter, 422]);
      expect(JSON.stringify(res.body)).toContain('Subscription.criteria.extension');
    }
  });
});

describe("the IG's test/invalid cases are refused naming the rule", () => {
  const invalid = (name: string): Task => {
    const resource = JSON.parse(readFileSync(join(FIXTURES, 'invalid', `${name}.json`), 'utf8').split('"12345678"').join(`"${DEMO_CLIENTS[PLACER]}"`).split('"87654321"').join(`"${DEMO_CLIENTS[CANDIDATE_A]}"`)) as Task;
    delete resource.id;
    // The IG's own profile is not one this server holds: every Task is held to handover-task, which carries these rules.
    delete resource.meta;
    return resource;
  };

  it.each(['twiin-ct-1', 'twiin-ct-2', 'twiin-ct-3', 'twiin-ct-4', 'twiin-crt-1'])('%s', async (key) => {
    const r = await setUp();
    const task = invalid(key);
    task.focus = { reference: task.focus?.reference?.startsWith('Task/') ? `Task/${(await invite(r, 'A')).id}` : r.serviceRequest };
    if (task.for) task.for = { reference: r.patient };
    if (task.owner?.identifier) task.owner.identifier.value = r.serviceA;
    const validated = await placer.post('Task/$validate', task);
    expect(JSON.stringify(validated.body)).toContain(`(${key})`);
    const created = await placer.post('Task', task);
    expect(created.status).toBeGreaterThanOrEqual(400);
    expect(created.status).toBeLessThan(500);
  });

  it('twiin-wsub-1: a filter not of the form owner:identifier=<system>|<value> is refused', async () => {
    const sub = invalid('twiin-wsub-1') as unknown as Record<string, unknown>;
    sub.criteria = 'http://gateway.test/fhir/SubscriptionTopic/handover';
    const res = await a.post('Subscription', sub);
    const oo = expectOutcome(res, 422);
    expect(oo.issue?.[0]?.expression).toEqual(['Subscription.criteria.extension']);
    expect(oo.issue?.[0]?.diagnostics).toContain('owner=');
  });
});
