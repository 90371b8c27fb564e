import { load, type LoadResult } from './stats.ts';

export interface FhirOpsResult {
  create: LoadResult;
  read: LoadResult;
  search: LoadResult;
}

/**
 * Task create, read and search (`status` + `owner`) rates against any FHIR R4 server: the gateway, or
 * a server named by COMPARE_FHIR_URL (HAPI FHIR, Medplum, ...), so the figures can be set side by side.
 */
export async function fhirOps(
  base: string,
  token: string,
  concurrency: number,
  seconds: number,
  ownerRef?: string,
  requesterRef?: string,
  /** Runs between the creates and the reads (the gateway's run refreshes the planner's statistics there). */
  afterCreate?: () => Promise<void>,
): Promise<FhirOpsResult> {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' };
  const post = async (type: string, body: object): Promise<{ id: string }> => {
    const res = await fetch(`${base}/${type}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`create ${type}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as { id: string };
  };
  const owner = ownerRef ?? `Organization/${(await post('Organization', { resourceType: 'Organization', name: 'Bench owner' })).id}`;
  const requester = requesterRef ?? `Organization/${(await post('Organization', { resourceType: 'Organization', name: 'Bench requester' })).id}`;
  const patient = await post('Patient', {
    resourceType: 'Patient',
    identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111' }],
    name: [{ family: 'Bench', given: ['Test'] }],
    gender: 'unknown',
    birthDate: '1950-01-01',
  });
  const serviceRequest = await post('ServiceRequest', {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    priority: 'stat',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '706281005', display: 'Ambulance transport' }] },
    subject: { reference: `Patient/${patient.id}` },
    requester: { reference: requester },
    performer: [{ reference: owner }],
  });
  const task = {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'stat',
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
    focus: { reference: `ServiceRequest/${serviceRequest.id}` },
    for: { reference: `Patient/${patient.id}` },
    requester: { reference: requester },
    owner: { reference: owner },
    authoredOn: new Date().toISOString(),
  };
  const created: string[] = [];
  const create = await load(concurrency, seconds, async () => {
    const res = await fetch(`${base}/Task`, { method: 'POST', headers: { ...headers, Prefer: 'return=minimal' }, body: JSON.stringify(task) });
    await res.arrayBuffer();
    const id = /Task\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1];
    if (id) created.push(id);
    return res.status === 201 || `HTTP ${res.status}`;
  });
  await afterCreate?.();
  let i = 0;
  const read = await load(concurrency, seconds, async () => {
    const id = created[i++ % Math.max(created.length, 1)];
    const res = await fetch(`${base}/Task/${id}`, { headers });
    await res.arrayBuffer();
    return res.status === 200 || `HTTP ${res.status}`;
  });
  const search = await load(concurrency, seconds, async () => {
    const res = await fetch(`${base}/Task?status=requested&owner=${encodeURIComponent(owner)}&_count=20`, { headers });
    await res.arrayBuffer();
    return res.status === 200 || `HTTP ${res.status}`;
  });
  return { create, read, search };
}
