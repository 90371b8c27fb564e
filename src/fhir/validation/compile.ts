import type { ElementDefinition, ElementDefinitionType, StructureDefinition } from '@medplum/fhirtypes';
import type { CompiledBinding, CompiledElement, CompiledInvariant, CompiledProfile, CompiledSlice, CompiledSlicing } from './compiled.ts';
import type { BaseDefinitions } from './definitions.ts';
import { stripVersion } from './definitions.ts';
import { buildElementTree } from './element-tree.ts';
import type { ElementNode } from './element-tree.ts';
import { compileInvariant } from './invariants.ts';
import { deepEqual, isObject, matchesPattern } from './json.ts';
import type { LocalTerminology } from './terminology.ts';

export interface CompileEnvironment {
  readonly base: BaseDefinitions;
  readonly terminology: LocalTerminology;
  /** The resource type a targetProfile URL constrains, if the URL is known. */
  readonly typeOfProfile: (url: string) => string | undefined;
  /** Whether an extension definition can be found for the URL. */
  readonly knowsExtension: (url: string) => boolean;
  /** Tests: evaluate invariants with both FHIRPath evaluators and throw where they differ. */
  readonly verifyFastPath?: boolean;
}

const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const CODED_TYPES = new Set(['code', 'Coding', 'CodeableConcept', 'Quantity', 'string', 'uri']);
const NOT_DESCENDED_TYPES = new Set(['Extension', 'Resource', 'BackboneElement', 'Element', 'xhtml']);

function isPrimitiveCode(code: string): boolean {
  return /^[a-z]/.test(code) || code.startsWith('http://hl7.org/fhirpath/');
}

function maxOf(max: string | undefined): number {
  return max === undefined || max === '*' ? Infinity : Number(max);
}

function typeSignature(types: ElementDefinitionType[] | undefined): string {
  return JSON.stringify(
    (types ?? []).map((t) => [t.code, (t.profile ?? []).map(stripVersion), (t.targetProfile ?? []).map(stripVersion)]),
  );
}

function keyed(element: ElementDefinition, prefix: 'fixed' | 'pattern'): unknown {
  for (const [k, v] of Object.entries(element)) if (k.startsWith(prefix)) return v;
  return undefined;
}

function upperFirst(code: string): string {
  return code.charAt(0).toUpperCase() + code.slice(1);
}

class ProfileCompiler {
  readonly uncheckedBindings: string[] = [];
  private readonly typeCache = new Map<string, readonly CompiledElement[]>();
  private readonly env: CompileEnvironment;

  constructor(env: CompileEnvironment) {
    this.env = env;
  }

  compileRoot(node: ElementNode): CompiledElement {
    return this.compileNode(node, false, false) ?? this.empty(node);
  }

  private empty(node: ElementNode): CompiledElement {
    return { key: node.name, choice: false, repeats: false, primitive: false, shadowKey: `_${node.name}`, invariants: [], children: [] };
  }

  private origin(element: ElementDefinition): ElementDefinition | undefined {
    return this.env.base.elementAt(element.base?.path ?? element.path ?? '');
  }

  /** `bindingsOnly` is for data types the snapshot does not expand: base validation covers the rest. */
  private compileNode(node: ElementNode, isSlice: boolean, bindingsOnly: boolean, typeStack: string[] = []): CompiledElement | undefined {
    const element = node.element;
    const id = element.id ?? node.id;
    const origin = bindingsOnly ? element : this.origin(element);
    const types = element.type ?? [];
    const choice = node.name.endsWith('[x]');
    const primitive = types.length === 1 && isPrimitiveCode(types[0].code);
    const baseMax = element.base?.max ?? element.max;

    let cardinality: CompiledElement['cardinality'];
    if (!bindingsOnly && id.includes('.')) {
      const min = element.min ?? 0;
      const max = maxOf(element.max);
      if (isSlice || min !== (element.base?.min ?? 0) || max !== maxOf(element.base?.max)) cardinality = { min, max };
    }

    const fixed = bindingsOnly ? undefined : keyed(element, 'fixed');
    const pattern = bindingsOnly ? undefined : keyed(element, 'pattern');
    const binding = this.binding(element, origin, types, id);

    let allowedTypes: Set<string> | undefined;
    let referenceTargets: Set<string> | undefined;
    let targetRequired: boolean | undefined;
    if (!bindingsOnly) {
      if (choice && typeSignature(types) !== typeSignature(origin?.type)) allowedTypes = new Set(types.map((t) => upperFirst(t.code)));
      // Checked even where the base already restricts targets: Medplum lets e.g. Location through where Organization is asked.
      const targets = types.flatMap((t) => (t.code === 'Reference' ? (t.targetProfile ?? []) : []));
      if (targets.length && types.every((t) => t.code === 'Reference') && !targets.some((u) => stripVersion(u) === `${CORE}Resource`)) {
        referenceTargets = new Set(
          targets.map((url) => {
            const type = this.env.typeOfProfile(stripVersion(url));
            if (!type) throw new Error(`${id}: targetProfile ${url} is unknown`);
            return type;
          }),
        );
        const baseTargets = (origin?.type ?? []).flatMap((t) => (t.code === 'Reference' ? (t.targetProfile ?? []) : [])).map(stripVersion);
        if (targets.some((u) => !baseTargets.includes(stripVersion(u))) || baseTargets.some((u) => !targets.some((t) => stripVersion(t) === u))) targetRequired = true;
      }
      for (const profile of types.flatMap((t) => (t.code === 'Extension' ? (t.profile ?? []) : []))) {
        if (!this.env.knowsExtension(stripVersion(profile))) throw new Error(`${id}: extension ${profile} is not defined`);
      }
    }

    const invariants: CompiledInvariant[] = [];
    if (!bindingsOnly) {
      const inherited = new Set((origin?.constraint ?? []).map((c) => c.key));
      // Warnings too (a profile's SHOULD): reported by $validate and beside an accepted write, never refused (run.ts).
      for (const c of element.constraint ?? []) {
        if ((c.severity !== 'error' && c.severity !== 'warning') || !c.expression || inherited.has(c.key)) continue;
        try {
          invariants.push(compileInvariant(c.key, c.human ?? c.key, c.expression, element.path ?? id, this.env.verifyFastPath, c.severity));
        } catch (err) {
          throw new Error(`invariant ${c.key} on ${id} does not compile: ${(err as Error).message}`);
        }
      }
    }

    let children: CompiledElement[];
    if (node.children.length) {
      children = node.children.flatMap((c) => this.compileNode(c, false, bindingsOnly, typeStack) ?? []);
    } else if (types.length === 1 && !primitive && !NOT_DESCENDED_TYPES.has(types[0].code) && !typeStack.includes(types[0].code)) {
      children = [...this.typeChildren(types[0].code, typeStack)];
    } else {
      children = [];
    }

    const slicing = node.slices.length ? this.slicing(node, bindingsOnly) : undefined;

    const key = choice ? node.name.slice(0, -3) : node.name;
    const compiled: CompiledElement = {
      key,
      choice,
      repeats: baseMax !== '1' && baseMax !== '0',
      primitive,
      shadowKey: `_${key}`,
      cardinality,
      fixed,
      pattern,
      binding,
      allowedTypes,
      referenceTargets,
      targetRequired,
      invariants,
      children,
      slicing,
      // Only what the profile says itself: R4's own requirements text is inherited by every snapshot element.
      hint: !bindingsOnly && element.requirements && element.requirements !== origin?.requirements ? element.requirements : undefined,
    };
    const hasChecks =
      cardinality || fixed !== undefined || pattern !== undefined || binding || allowedTypes || referenceTargets || invariants.length;
    return hasChecks || children.length || slicing || isSlice ? compiled : undefined;
  }

  private binding(element: ElementDefinition, origin: ElementDefinition | undefined, types: ElementDefinitionType[], id: string): CompiledBinding | undefined {
    const b = element.binding;
    if (b?.strength !== 'required' || !b.valueSet || !types.some((t) => CODED_TYPES.has(t.code))) return undefined;
    const expansion = this.env.terminology.expand(b.valueSet);
    if (expansion) return { valueSet: stripVersion(b.valueSet), expansion };
    const inherited = origin?.binding?.strength === 'required' && stripVersion(origin.binding.valueSet ?? '') === stripVersion(b.valueSet);
    if (!inherited) throw new Error(`${id}: required binding to ${b.valueSet}, which cannot be expanded locally`);
    this.uncheckedBindings.push(`${id} (${stripVersion(b.valueSet)})`);
    return undefined;
  }

  private typeChildren(typeCode: string, typeStack: string[]): readonly CompiledElement[] {
    const cached = this.typeCache.get(typeCode);
    if (cached) return cached;
    const sd = this.env.base.structureDefinition(typeCode);
    const elements = sd?.snapshot?.element;
    if (!elements?.length) return [];
    const tree = buildElementTree(elements);
    const stack = [...typeStack, typeCode];
    const children = tree.children.flatMap((c) => this.compileNode(c, false, true, stack) ?? []);
    this.typeCache.set(typeCode, children);
    return children;
  }

  private slicing(node: ElementNode, bindingsOnly: boolean): CompiledSlicing {
    const element = node.element;
    const id = element.id ?? node.id;
    const isExtension = node.name === 'extension' || node.name === 'modifierExtension';
    const discriminators = element.slicing?.discriminator ?? (isExtension ? [{ type: 'value' as const, path: 'url' }] : undefined);
    if (!discriminators?.length) throw new Error(`${id}: slices without a slicing discriminator`);
    const slices: CompiledSlice[] = node.slices.map((sliceNode) => {
      const compiled = this.compileNode(sliceNode, true, bindingsOnly) as CompiledElement;
      const sliceName = sliceNode.element.sliceName ?? sliceNode.id;
      const extensionUrl = isExtension ? sliceNode.element.type?.[0]?.profile?.[0] : undefined;
      const tests = discriminators.map((d) => {
        if (d.type !== 'value' && d.type !== 'pattern') {
          throw new Error(`${id}: slicing discriminator type '${d.type}' is not supported`);
        }
        if (extensionUrl && d.path === 'url') {
          const url = stripVersion(extensionUrl);
          return (item: unknown) => isObject(item) && item.url === url;
        }
        return this.discriminatorTest(sliceNode, d.path, `${id}:${sliceName}`);
      });
      return {
        name: sliceName,
        extensionUrl: extensionUrl && stripVersion(extensionUrl),
        matches: (item: unknown) => tests.every((t) => t(item)),
        element: compiled,
      };
    });
    return { closed: element.slicing?.rules === 'closed', slices };
  }

  private discriminatorTest(sliceNode: ElementNode, path: string, where: string): (item: unknown) => boolean {
    const segments = path === '$this' ? [] : path.split('.');
    let target: ElementNode | undefined = sliceNode;
    for (const segment of segments) target = target?.children.find((c) => c.name === segment);
    const fixed = target && keyed(target.element, 'fixed');
    const pattern = target && keyed(target.element, 'pattern');
    if (fixed === undefined && pattern === undefined) {
      throw new Error(`${where}: no fixed or pattern value at discriminator path '${path}'`);
    }
    return (item) => {
      let value: unknown = item;
      for (const segment of segments) {
        value = isObject(value) ? value[segment] : undefined;
        if (Array.isArray(value)) value = value[0];
      }
      return fixed !== undefined ? deepEqual(value, fixed) : matchesPattern(value, pattern);
    };
  }
}

export function compileProfile(sd: StructureDefinition, env: CompileEnvironment): CompiledProfile {
  const elements = sd.snapshot?.element;
  if (!elements?.length) throw new Error('no snapshot');
  const compiler = new ProfileCompiler(env);
  const root = compiler.compileRoot(buildElementTree(elements));
  return { url: sd.url as string, type: sd.type as string, root, uncheckedBindings: compiler.uncheckedBindings };
}
