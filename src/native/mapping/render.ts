// HandoverView -> native record: the `from-fhir.json` of a format, one template per perspective.
import type { Encounter, Observation } from '@medplum/fhirtypes';
import r4 from 'fhirpath/fhir-context/r4';
import type { Model } from 'fhirpath';
import type { HandoverView, NativeFormat, NativeRecord, Perspective } from '../types.ts';
import type { Env, Evaluator, ObjNode } from './compile.ts';
import { Compiler } from './compile.ts';
import { evaluateObject } from './evaluate.ts';
import type { Shape } from './scopes.ts';
import { ShapeScope } from './scopes.ts';
import { BASE_ENV } from './to-fhir.ts';
import type { TransformContext } from './transforms/index.ts';
import { numberTextsByValue } from '../../fhir/number-text.ts';

const PERSPECTIVES: readonly Perspective[] = ['receiver', 'requester'];

/** What a from-fhir template can read, besides the base URLs. */
const VIEW_ENV = [
  'task',
  'serviceRequest',
  'patient',
  'requesterEncounter',
  'receiverEncounter',
  'requesterObservations',
  'receiverObservations',
  'requester',
  'owner',
  'letters',
  'documents',
  'sequence',
  'handoverId',
] as const;

export interface CompiledRender {
  format: NativeFormat;
  perspectives: Record<Perspective, { lets: [string, Evaluator][]; template: ObjNode }>;
}

interface FromFhirFile {
  format?: unknown;
  fragments?: Record<string, unknown>;
  perspectives?: Record<string, { let?: Record<string, unknown>; template?: unknown }>;
}

export function compileRender(file: string, format: NativeFormat, json: unknown, shape: Shape, verifyFastPath = false): CompiledRender {
  const spec = json as FromFhirFile;
  const fail = (at: string, message: string): never => {
    throw new Error(`${file}: ${at}: ${message}`);
  };
  if (spec.format !== format) fail('format', `expected "${format}", found ${JSON.stringify(spec.format)}`);
  const out: Partial<CompiledRender['perspectives']> = {};
  for (const perspective of PERSPECTIVES) {
    const found = spec.perspectives?.[perspective];
    if (!found) return fail(`perspectives.${perspective}`, 'missing');
    const section = found;
    const names = new Set<string>([...VIEW_ENV, ...Object.keys(BASE_ENV)]);
    const letNames = Object.keys(section.let ?? {});
    const compiler = new Compiler({ file, model: r4 as unknown as Model, env: [...names, ...letNames], fragments: spec.fragments, verifyFastPath });
    const lets: [string, Evaluator][] = [];
    for (const name of letNames) {
      lets.push([name, compiler.expression(section.let?.[name], `perspectives.${perspective}.let.${name}`, names)]);
      names.add(name);
    }
    const template = compiler.node(section.template, new ShapeScope(shape, format), `perspectives.${perspective}.template`, names);
    if (template.t !== 'obj') fail(`perspectives.${perspective}.template`, 'must be an object template');
    out[perspective] = { lets, template: template as ObjNode };
  }
  for (const key of Object.keys(spec.perspectives ?? {})) {
    if (!PERSPECTIVES.includes(key as Perspective)) fail(`perspectives.${key}`, 'unknown perspective');
  }
  return { format, perspectives: out as CompiledRender['perspectives'] };
}

const refersTo = (reference: string | undefined, resource: { resourceType: string; id?: string }): boolean =>
  !!reference && !!resource.id && (reference === `${resource.resourceType}/${resource.id}` || reference === resource.id || reference.endsWith(`/${resource.resourceType}/${resource.id}`));

/**
 * Which encounter is the requester's (its triage contact or ride) and which the receiver's own: the Task
 * points at the requester's; the receiver's is based on the ServiceRequest or provided by the owner;
 * otherwise the serviceProvider's URA decides; otherwise the order of the view.
 */
function splitEncounters(view: HandoverView): { requester?: Encounter; receiver?: Encounter } {
  const taskRef = view.task.encounter?.reference;
  const sr = view.serviceRequest;
  const providedBy = (ura: string | undefined): Encounter | undefined =>
    ura ? view.encounters.find((e) => e.serviceProvider?.reference?.endsWith(`|${ura}`) || e.serviceProvider?.identifier?.value === ura) : undefined;
  const receiverHint =
    (sr ? view.encounters.find((e) => e.basedOn?.some((b) => refersTo(b.reference, sr as { resourceType: string; id?: string }))) : undefined) ??
    providedBy(view.owner.ura);
  const requester =
    view.encounters.find((e) => refersTo(taskRef, e)) ?? providedBy(view.requester.ura) ?? view.encounters.find((e) => e !== receiverHint);
  const receiver = view.encounters.find((e) => e !== requester);
  return { requester, receiver };
}

function observationsOf(encounter: Encounter | undefined, all: Observation[], fallback: boolean): Observation[] {
  if (!encounter) return [];
  const mine = all.filter((o) => refersTo(o.encounter?.reference, encounter));
  return mine.length > 0 || !fallback ? mine : all.filter((o) => !o.encounter?.reference);
}

export function runRender(compiled: CompiledRender, view: HandoverView, perspective: Perspective, sequence: number, baseCtx: TransformContext): NativeRecord {
  const numberTexts = numberTextsByValue(view);
  const ctx = numberTexts ? { ...baseCtx, numberTexts } : baseCtx;
  const { requester, receiver } = splitEncounters(view);
  const env: Env = {
    ...BASE_ENV,
    task: view.task,
    serviceRequest: view.serviceRequest ?? [],
    patient: view.patient ?? [],
    requesterEncounter: requester ?? [],
    receiverEncounter: receiver ?? [],
    requesterObservations: observationsOf(requester, view.observations, true),
    receiverObservations: observationsOf(receiver, view.observations, false),
    requester: view.requester,
    owner: view.owner,
    letters: view.letters ?? [],
    documents: view.documents ?? [],
    sequence,
    handoverId: view.task.id ?? [],
  };
  const section = compiled.perspectives[perspective];
  for (const [name, expr] of section.lets) env[name] = expr(view.task, env);
  return evaluateObject(section.template, view.task, env, ctx, false) ?? {};
}
