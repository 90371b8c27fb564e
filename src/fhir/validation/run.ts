import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { CompiledBinding, CompiledElement } from './compiled.ts';
import { issue } from './issues.ts';
import { asArray, deepEqual, isObject, matchesPattern } from './json.ts';
import type { JsonObject } from './json.ts';
import { referencedTypes } from './references.ts';

/** Runs compiled checks over parsed JSON; the expression of every issue is built as it walks. */
export interface RunState {
  readonly resource: JsonObject;
  readonly issues: OperationOutcomeIssue[];
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

function listCodes(binding: CompiledBinding): string {
  const codes = [...binding.expansion.codes];
  return codes.length <= 12 ? `: one of ${codes.join(', ')}` : '';
}

function inValueSet(value: unknown, binding: CompiledBinding): boolean {
  const { codes, systemCodes } = binding.expansion;
  if (typeof value === 'string') return codes.has(value);
  if (!isObject(value)) return false;
  if (value.coding !== undefined || value.text !== undefined) {
    return asArray(value.coding).some((c) => isObject(c) && systemCodes.has(`${String(c.system)}|${String(c.code)}`));
  }
  return systemCodes.has(`${String(value.system)}|${String(value.code)}`);
}

function choiceKey(el: CompiledElement, parent: JsonObject): string | undefined {
  const prefix = el.key;
  for (const k of Object.keys(parent)) {
    if (k.length > prefix.length && k.startsWith(prefix)) {
      const c = k.charCodeAt(prefix.length);
      if (c >= 65 && c <= 90) return k;
    }
  }
  return undefined;
}

/** Checks one occurrence of an element: its value, its invariants and what lies below it. */
export function checkItem(el: CompiledElement, value: unknown, shadow: unknown, expr: string, state: RunState): void {
  if (value !== undefined) {
    if (el.fixed !== undefined && !deepEqual(value, el.fixed)) {
      state.issues.push(issue('value', expr, withHint(`${expr} must be exactly ${describe(el.fixed)}, but is ${describe(value)}`, el.hint)));
    }
    if (el.pattern !== undefined && !matchesPattern(value, el.pattern)) {
      state.issues.push(issue('value', expr, withHint(`${expr} must contain ${describe(el.pattern)}, but is ${describe(value)}`, el.hint)));
    }
    if (el.binding && !inValueSet(value, el.binding)) {
      state.issues.push(
        issue('value', expr, `${expr} ${describe(value)} is not in the required value set ${el.binding.valueSet}${listCodes(el.binding)}`),
      );
    }
    if (el.referenceTargets && isObject(value)) checkReference(el.referenceTargets, el.targetRequired === true, value, expr, state, el.hint);
    for (const invariant of el.invariants) {
      if (!invariant.test(value, state.resource)) {
        state.issues.push(issue('invariant', expr, `${invariant.human} (${invariant.key})`, invariant.severity));
      }
    }
  }
  if (el.children.length) {
    const container = el.primitive ? shadow : value;
    if (isObject(container)) checkChildren(el.children, container, expr, state);
  }
}

/** A refusal's message with the profile's word on what to send, when it has one. */
const withHint = (message: string, hint: string | undefined): string => (hint ? `${message}. ${hint}` : message);

function checkReference(targets: ReadonlySet<string>, targetRequired: boolean, reference: JsonObject, expr: string, state: RunState, hint?: string): void {
  const { types, unknowable } = referencedTypes(reference, state.resource);
  const allowed = [...targets].join(' or ');
  if (types.length === 0 && !unknowable && targetRequired) {
    state.issues.push(issue('invalid', expr, withHint(`${expr} must refer to ${allowed}, but names no target`, hint)));
  }
  for (const type of types) {
    if (!targets.has(type)) {
      state.issues.push(issue('invalid', expr, withHint(`${expr} must refer to ${allowed}, not to ${type}`, hint)));
      return;
    }
  }
}

function checkChildren(children: readonly CompiledElement[], parent: JsonObject, expr: string, state: RunState): void {
  for (const el of children) checkElement(el, parent, expr, state);
}

function checkElement(el: CompiledElement, parent: JsonObject, expr: string, state: RunState): void {
  let key: string | undefined = el.key;
  let shadowKey = el.shadowKey;
  if (el.choice) {
    key = choiceKey(el, parent);
    if (key && el.allowedTypes && !el.allowedTypes.has(key.slice(el.key.length))) {
      const allowed = [...el.allowedTypes].map((t) => el.key + t).join(', ');
      state.issues.push(issue('invalid', `${expr}.${key}`, `${expr}.${key} has the wrong type: expected ${allowed}`));
    }
    shadowKey = `_${key}`;
  }
  // Most elements are absent and unconstrained in any one resource: leave those at once.
  if (!el.cardinality && !el.slicing && (key === undefined || (parent[key] === undefined && (!el.primitive || parent[shadowKey] === undefined)))) return;
  // A single value (most are) is read where it is, not put in an array of its own: `asArray`'s answer, by index.
  const value = key === undefined ? undefined : parent[key];
  const shadow = key !== undefined && el.primitive ? parent[shadowKey] : undefined;
  const count = Math.max(countOf(value), countOf(shadow));
  const label = key ?? el.key;

  if (el.cardinality) {
    const { min, max } = el.cardinality;
    if (count < min) {
      const what = min === 1 ? 'is required' : `needs at least ${min} values`;
      state.issues.push(issue('required', `${expr}.${label}`, withHint(`${expr}.${label} ${what}${count ? `, but has ${count}` : ' but is missing'}`, el.hint)));
    } else if (count > max) {
      const what = max === 0 ? 'is not allowed here' : `allows at most ${max} value${max === 1 ? '' : 's'}, but has ${count}`;
      state.issues.push(issue('invalid', `${expr}.${label}`, `${expr}.${label} ${what}`));
    }
  }

  for (let i = 0; i < count; i++) {
    checkItem(el, itemOf(value, i), itemOf(shadow, i), el.repeats ? `${expr}.${label}[${i}]` : `${expr}.${label}`, state);
  }

  if (el.slicing) checkSlices(el, asArray(value), `${expr}.${label}`, state);
}

/** How many values `asArray(value)` holds, and its item `i`, without the array. */
function countOf(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return Array.isArray(value) ? value.length : 1;
}

function itemOf(value: unknown, i: number): unknown {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value[i] as unknown;
  return i === 0 ? value : undefined;
}

function checkSlices(el: CompiledElement, items: unknown[], expr: string, state: RunState): void {
  const slicing = el.slicing;
  if (!slicing) return;
  const counts = new Array<number>(slicing.slices.length).fill(0);
  items.forEach((item, i) => {
    const index = slicing.slices.findIndex((s) => s.matches(item));
    if (index < 0) {
      if (slicing.closed) state.issues.push(issue('invalid', `${expr}[${i}]`, `${expr}[${i}] matches none of the allowed kinds`));
      return;
    }
    counts[index]++;
    checkItem(slicing.slices[index].element, item, undefined, `${expr}[${i}]`, state);
  });
  slicing.slices.forEach((slice, index) => {
    const cardinality = slice.element.cardinality;
    if (!cardinality) return;
    const where = slice.extensionUrl ? `${expr}('${slice.extensionUrl}')` : expr;
    const what = slice.extensionUrl ? `extension ${slice.extensionUrl}` : `${expr} of kind '${slice.name}'`;
    if (counts[index] < cardinality.min) {
      state.issues.push(issue('required', where, `${what} is required but missing`));
    } else if (counts[index] > cardinality.max) {
      state.issues.push(issue('invalid', where, `${what} appears ${counts[index]} times, at most ${cardinality.max} allowed`));
    }
  });
}
