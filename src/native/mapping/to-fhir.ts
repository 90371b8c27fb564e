// Native record -> MappedRecord: the `to-fhir.json` of a format, compiled once, run per record.
import { randomUUID } from 'node:crypto';
import type { Encounter, Observation, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { MappedRecord, NativeFormat, NativeRecord } from '../types.ts';
import type { ArrNode, Env, Evaluator, ObjNode } from './compile.ts';
import { Compiler } from './compile.ts';
import { evaluateNode, evaluateObject, truthy } from './evaluate.ts';
import type { Shape } from './scopes.ts';
import { FhirScope, ShapeScope } from './scopes.ts';
import { GATEWAY_BASE } from './terminology.ts';
import type { TransformContext } from './transforms/index.ts';
import { numberTextsByValue } from '../../fhir/number-text.ts';

/** The non-resource fields of a MappedRecord a mapping file fills (its `record` section). */
const RECORD_SHAPE: Shape = {
  kind: 'string',
  senderUra: 'string',
  recordId: 'string',
  sequence: 'integer',
  handoverId: 'string',
  onBehalfOf: { name: 'string', role: 'string', big: 'string' },
  receiver: { ura: 'string', kind: 'string', name: 'string' },
  cancelled: { reason: 'string' },
  transition: {
    status: 'string',
    businessStatus: 'string',
    statusReason: 'string',
    failsIfAccepted: 'boolean',
    reference: { system: 'string', value: 'string' },
    executionPeriod: { start: 'string', end: 'string' },
    output: 'string',
  },
};

const RESOURCES = { patient: 'Patient', encounter: 'Encounter', serviceRequest: 'ServiceRequest', task: 'Task' } as const;
type ResourceKey = keyof typeof RESOURCES;

export const BASE_ENV = { gw: GATEWAY_BASE, cs: `${GATEWAY_BASE}/CodeSystem/`, ns: `${GATEWAY_BASE}/NamingSystem/`, sd: `${GATEWAY_BASE}/StructureDefinition/` };

export interface CompiledToFhir {
  format: NativeFormat;
  vars: [string, Evaluator][];
  record: ObjNode;
  resources: { key: ResourceKey; node: ObjNode }[];
  observations?: ArrNode;
}

interface ToFhirFile {
  format?: unknown;
  vars?: Record<string, unknown>;
  fragments?: Record<string, unknown>;
  record?: unknown;
  resources?: Record<string, unknown>;
}

export function compileToFhir(file: string, format: NativeFormat, json: unknown, verifyFastPath = false): CompiledToFhir {
  const spec = json as ToFhirFile;
  const fail = (at: string, message: string): never => {
    throw new Error(`${file}: ${at}: ${message}`);
  };
  if (spec.format !== format) fail('format', `expected "${format}", found ${JSON.stringify(spec.format)}`);
  const varNames = Object.keys(spec.vars ?? {});
  const env = ['record', ...Object.keys(BASE_ENV), ...Object.keys(RESOURCES).map((k) => `${k}Url`)];
  const compiler = new Compiler({ file, env: [...env, ...varNames], fragments: spec.fragments, verifyFastPath });
  const vars: [string, Evaluator][] = [];
  const known = new Set(env);
  for (const name of varNames) {
    vars.push([name, compiler.expression(spec.vars?.[name], `vars.${name}`, known)]);
    known.add(name);
  }
  const all = new Set(known);
  const record = compiler.node(spec.record, new ShapeScope(RECORD_SHAPE, 'MappedRecord'), 'record', all);
  if (record.t !== 'obj') fail('record', 'must be an object template');
  const compiled: CompiledToFhir = { format, vars, record: record as ObjNode, resources: [] };
  for (const [key, template] of Object.entries(spec.resources ?? {})) {
    if (key === 'observations') {
      const node = compiler.node(template, FhirScope.forResource('Observation') as FhirScope, 'resources.observations', all);
      if (node.t !== 'arr') fail('resources.observations', 'must be an array of Observation templates');
      const arr = node as ArrNode;
      (template as { resourceType?: unknown }[]).forEach((t, i) => {
        if (t?.resourceType !== 'Observation') fail(`resources.observations[${i}]`, 'resourceType must be Observation');
      });
      compiled.observations = arr;
      continue;
    }
    if (!Object.hasOwn(RESOURCES, key)) fail(`resources.${key}`, `unknown resource key (expected ${Object.keys(RESOURCES).join(', ')}, observations)`);
    const resourceType = RESOURCES[key as ResourceKey];
    // An array gives alternatives (e.g. a new handover's Task, or an answer's Task patch): the first whose $when holds.
    const alternatives = Array.isArray(template) ? template : [template];
    alternatives.forEach((alt, i) => {
      const at = Array.isArray(template) ? `resources.${key}[${i}]` : `resources.${key}`;
      if ((alt as { resourceType?: unknown })?.resourceType !== resourceType) fail(at, `resourceType must be ${resourceType}`);
      const node = compiler.node(alt, FhirScope.forResource(resourceType) as FhirScope, at, all);
      compiled.resources.push({ key: key as ResourceKey, node: node as ObjNode });
    });
  }
  if (!compiled.resources.some((r) => r.key === 'patient')) fail('resources', 'a patient template is required');
  return compiled;
}

export function runToFhir(compiled: CompiledToFhir, record: NativeRecord, baseCtx: TransformContext): MappedRecord {
  const numberTexts = numberTextsByValue(record);
  const ctx = numberTexts ? { ...baseCtx, numberTexts } : baseCtx;
  const env: Env = { record, ...BASE_ENV, patientUrl: [], encounterUrl: [], serviceRequestUrl: [], taskUrl: [] };
  for (const [name, expr] of compiled.vars) env[name] = expr(record, env);
  const fullUrls: Record<string, string> = {};
  // fullUrls first, so that resources can reference each other whatever their order.
  const existing: CompiledToFhir['resources'] = [];
  for (const r of compiled.resources) {
    if (existing.some((e) => e.key === r.key)) continue;
    if (!r.node.when || truthy(r.node.when(record, env))) existing.push(r);
  }
  for (const r of existing) env[`${r.key}Url`] = fullUrls[r.key] = `urn:uuid:${randomUUID()}`;
  const built: Partial<Record<ResourceKey, unknown>> = {};
  for (const r of existing) built[r.key] = evaluateObject(r.node, record, env, ctx, true);
  const observations = ((compiled.observations && evaluateNode(compiled.observations, record, env, ctx)) ?? []) as Observation[];
  observations.forEach((_, i) => (fullUrls[`observation/${i}`] = `urn:uuid:${randomUUID()}`));
  const meta = (evaluateObject(compiled.record, record, env, ctx, false) ?? {}) as Partial<MappedRecord>;
  if (!built.patient) throw new Error(`${compiled.format}: the record yields no Patient`);
  if ((meta.kind !== 'request' && meta.kind !== 'answer') || typeof meta.senderUra !== 'string' || typeof meta.recordId !== 'string' || typeof meta.sequence !== 'number') {
    throw new Error(`${compiled.format}: the mapping gave no kind, senderUra, recordId or sequence for this record`);
  }
  const out: MappedRecord = {
    format: compiled.format,
    kind: meta.kind,
    senderUra: meta.senderUra,
    recordId: meta.recordId,
    sequence: meta.sequence,
    patient: built.patient as Patient,
    observations,
    fullUrls,
  };
  if (meta.onBehalfOf) out.onBehalfOf = meta.onBehalfOf;
  if (meta.handoverId) out.handoverId = meta.handoverId;
  if (built.encounter) out.encounter = built.encounter as Encounter;
  if (built.serviceRequest) out.serviceRequest = built.serviceRequest as ServiceRequest;
  if (built.task) out.task = built.task as Task;
  if (meta.receiver) out.receiver = meta.receiver;
  if (meta.cancelled) out.cancelled = meta.cancelled;
  if (meta.transition) out.transition = meta.transition;
  return out;
}
