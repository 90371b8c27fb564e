// Test support: a tiny stand-in for the store, turning MappedRecords into the HandoverView the renderer
// reads (ids given, urn:uuid references resolved, answers applied to the Task), and example loading.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Encounter, Observation, Resource, Task } from '@medplum/fhirtypes';
import type { HandoverView, MappedRecord, NativeFormat, NativeRecord } from '../../src/native/types.ts';

export const MAPPINGS_DIR = new URL('../../mappings', import.meta.url).pathname;
const EXAMPLES_DIR = new URL('../fixtures/native-examples', import.meta.url).pathname;
export const HANDOVER_ID = 'ho-0001';

export function exampleNames(): string[] {
  return readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json') && !f.startsWith('invalid-')).sort();
}

export function formatOf(name: string): NativeFormat {
  return name.split('-')[0] as NativeFormat;
}

/** An example with `${overdrachtId}` filled in. */
export function example(name: string, handoverId = HANDOVER_ID): NativeRecord {
  return JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8').replaceAll('${overdrachtId}', handoverId)) as NativeRecord;
}

function resolveRefs<T>(value: T, urls: Map<string, string>): T {
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) => (typeof v === 'string' && urls.has(v) ? urls.get(v) : v)) as T;
}

interface Party {
  ura: string;
  name?: string;
  kind?: string;
}

/** Stores a request as the store would: ids, resolved references; a record without handover gets a placeholder Task. */
export function storeRequest(mapped: MappedRecord, requesterKind: string, handoverId = HANDOVER_ID): HandoverView {
  const urls = new Map<string, string>();
  const ids: Record<string, string> = { patient: 'pat-1', encounter: 'enc-req', serviceRequest: 'sr-1', task: handoverId };
  const types: Record<string, string> = { patient: 'Patient', encounter: 'Encounter', serviceRequest: 'ServiceRequest', task: 'Task' };
  for (const [key, url] of Object.entries(mapped.fullUrls)) {
    if (key.startsWith('observation/')) urls.set(url, `Observation/obs-req-${key.slice(12)}`);
    else urls.set(url, `${types[key]}/${ids[key]}`);
  }
  const withId = <R extends Resource>(r: R | undefined, id: string): R | undefined => (r ? resolveRefs({ ...r, id }, urls) : undefined);
  const encounter = withId(mapped.encounter, ids.encounter);
  const task: Task = withId(mapped.task, handoverId) ?? {
    resourceType: 'Task',
    id: handoverId,
    status: 'requested',
    intent: 'order',
    ...(encounter ? { encounter: { reference: `Encounter/${ids.encounter}` } } : {}),
  };
  const requesterName = mapped.serviceRequest?.requester?.display ?? mapped.encounter?.serviceProvider?.display;
  return {
    task,
    serviceRequest: withId(mapped.serviceRequest, ids.serviceRequest),
    encounters: encounter ? [encounter] : [],
    patient: withId(mapped.patient, ids.patient),
    observations: mapped.observations.map((o, i) => withId(o, `obs-req-${i}`) as Observation),
    requester: { ura: mapped.senderUra, ...(requesterName ? { name: requesterName } : {}), kind: requesterKind },
    owner: mapped.receiver ? { ura: mapped.receiver.ura, name: mapped.receiver.name, kind: mapped.receiver.kind } : ({} as Party as HandoverView['owner']),
  };
}

const STARTED = new Set(['accepted', 'in-progress', 'on-hold', 'completed']);

/** Applies an answer as the store would: the transition and Task patch, the receiver's encounter and findings. */
export function applyAnswer(view: HandoverView, answer: MappedRecord, opts: { takePatient?: boolean } = {}): HandoverView {
  const t = answer.transition;
  if (!t) throw new Error('not an answer');
  const urls = new Map<string, string>();
  if (answer.fullUrls.encounter) urls.set(answer.fullUrls.encounter, 'Encounter/enc-rcv');
  if (answer.fullUrls.patient && view.patient?.id) urls.set(answer.fullUrls.patient, `Patient/${view.patient.id}`);
  for (const [key, url] of Object.entries(answer.fullUrls)) if (key.startsWith('observation/')) urls.set(url, `Observation/obs-rcv-${key.slice(12)}`);
  const patch = answer.task ?? ({} as Partial<Task>);
  const status = t.failsIfAccepted && STARTED.has(view.task.status) ? 'failed' : t.status;
  const task: Task = {
    ...view.task,
    status,
    ...(patch.businessStatus ? { businessStatus: patch.businessStatus } : {}),
    ...(patch.statusReason ? { statusReason: patch.statusReason } : {}),
    ...(patch.executionPeriod ? { executionPeriod: { ...view.task.executionPeriod, ...patch.executionPeriod } } : {}),
    ...(patch.output ? { output: patch.output } : {}),
  };
  const serviceRequest = view.serviceRequest && t.reference
    ? { ...view.serviceRequest, identifier: [...(view.serviceRequest.identifier ?? []), t.reference] }
    : view.serviceRequest;
  const receiverEncounter: Encounter | undefined = answer.encounter ? resolveRefs({ ...answer.encounter, id: 'enc-rcv' }, urls) : undefined;
  return {
    ...view,
    task,
    serviceRequest,
    encounters: [...view.encounters.filter((e) => e.id !== 'enc-rcv'), ...(receiverEncounter ? [receiverEncounter] : [])],
    observations: [
      ...view.observations.filter((o) => !o.id?.startsWith('obs-rcv-')),
      ...answer.observations.map((o, i) => resolveRefs({ ...o, id: `obs-rcv-${i}` }, urls)),
    ],
    patient: opts.takePatient ? resolveRefs({ ...answer.patient, id: view.patient?.id ?? 'pat-1' }, urls) : view.patient,
  };
}

/** The path of the first field of `original` that `rendered` lacks or has otherwise; undefined when contained. */
export function firstDifference(original: unknown, rendered: unknown, path = '$'): string | undefined {
  if (Array.isArray(original)) {
    if (!Array.isArray(rendered) || rendered.length !== original.length) return `${path}: ${JSON.stringify(original)} became ${JSON.stringify(rendered)}`;
    for (let i = 0; i < original.length; i++) {
      const d = firstDifference(original[i], rendered[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (original !== null && typeof original === 'object') {
    if (rendered === null || typeof rendered !== 'object') return `${path}: missing`;
    for (const [k, v] of Object.entries(original)) {
      const d = firstDifference(v, (rendered as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return original === rendered ? undefined : `${path}: ${JSON.stringify(original)} became ${JSON.stringify(rendered)}`;
}
