import type { ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/**
 * Builds a profile's snapshot from its differential and its base definition. Deliberately small:
 * it handles what the gateway's profiles use (tightening elements, slices, fixed and pattern
 * values, bindings, invariants, and stepping into a data type's children), and refuses the rest.
 */
export type DefinitionLookup = (urlOrType: string) => StructureDefinition | undefined;

const EXTENSION_SLICING: ElementDefinition['slicing'] = {
  discriminator: [{ type: 'value', path: 'url' }],
  rules: 'open',
};

function clone<T>(value: T): T {
  return structuredClone(value);
}

function maxOf(max: string | undefined): number {
  return max === undefined || max === '*' ? Infinity : Number(max);
}

function parentIdOf(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}

/** The id of the element a slice id slices (`Patient.identifier:bsn` → `Patient.identifier`), if it is a slice. */
function slicedIdOf(id: string): string | undefined {
  const lastSegment = id.slice(id.lastIndexOf('.') + 1);
  const colon = lastSegment.indexOf(':');
  return colon < 0 ? undefined : id.slice(0, id.length - lastSegment.length + colon);
}

function sliceNameOf(id: string): string {
  return id.slice(id.lastIndexOf(':') + 1);
}

function generateSnapshot(profile: StructureDefinition, lookup: DefinitionLookup): ElementDefinition[] {
  const where = `profile ${profile.url ?? profile.id ?? '(no url)'}`;
  if (!profile.baseDefinition) throw new Error(`${where}: no baseDefinition`);
  const base = lookup(profile.baseDefinition);
  if (!base?.snapshot?.element?.length) throw new Error(`${where}: base ${profile.baseDefinition} is unknown or has no snapshot`);
  const elements = clone(base.snapshot.element);

  const indexOf = (id: string): number => elements.findIndex((e) => e.id === id);

  /** Index just past the element, its children and its slices. */
  const endOf = (id: string): number => {
    let i = indexOf(id) + 1;
    while (i < elements.length && (elements[i].id?.startsWith(id + '.') || elements[i].id?.startsWith(id + ':'))) i++;
    return i;
  };

  const childrenFromType = (parent: ElementDefinition): ElementDefinition[] => {
    const parentId = parent.id as string;
    const sliced = slicedIdOf(parentId);
    if (sliced) {
      // A slice has the children of the element it slices.
      const unsliced = elements.filter((e) => e.id?.startsWith(sliced + '.') && !e.id.slice(sliced.length + 1).includes(':'));
      if (unsliced.length) {
        return unsliced.map((e) => ({ ...clone(e), id: parentId + (e.id as string).slice(sliced.length) }));
      }
    }
    const typeCodes = parent.type?.map((t) => t.code) ?? [];
    if (typeCodes.length !== 1) throw new Error(`${where}: cannot step into ${parentId}, which does not have exactly one type`);
    const typeSd = lookup(typeCodes[0]);
    if (!typeSd?.snapshot?.element) throw new Error(`${where}: unknown type ${typeCodes[0]} at ${parentId}`);
    const [root, ...rest] = typeSd.snapshot.element;
    return rest.map((e) => ({
      ...clone(e),
      id: parentId + (e.id as string).slice((root.id as string).length),
      path: (parent.path as string) + (e.path as string).slice((root.path as string).length),
    }));
  };

  const ensure = (id: string): number => {
    const existing = indexOf(id);
    if (existing >= 0) return existing;
    const sliced = slicedIdOf(id);
    if (sliced) {
      const slicedIndex = ensure(sliced);
      const slicedElement = elements[slicedIndex];
      if (!slicedElement.slicing) {
        if (slicedElement.path?.endsWith('.extension') || slicedElement.path?.endsWith('.modifierExtension')) {
          slicedElement.slicing = clone(EXTENSION_SLICING);
        } else {
          throw new Error(`${where}: slice ${id} on ${sliced}, which declares no slicing`);
        }
      }
      // Each slice starts optional: the minimum of the sliced element applies to all slices together.
      const slice: ElementDefinition = { ...clone(slicedElement), id, sliceName: sliceNameOf(id), min: 0 };
      delete slice.slicing;
      const at = endOf(sliced);
      elements.splice(at, 0, slice);
      return at;
    }
    if (!id.includes('.')) throw new Error(`${where}: element ${id} is not in the base`);
    const parentIndex = ensure(parentIdOf(id));
    const parent = elements[parentIndex];
    if (elements.some((e) => e.id?.startsWith(parent.id + '.'))) {
      throw new Error(`${where}: element ${id} is not in the base`);
    }
    elements.splice(parentIndex + 1, 0, ...childrenFromType(parent));
    const created = indexOf(id);
    if (created < 0) throw new Error(`${where}: element ${id} is not in the base`);
    return created;
  };

  for (const diff of profile.differential?.element ?? []) {
    if (!diff.id) throw new Error(`${where}: differential element without id`);
    const target = elements[ensure(diff.id)];
    const lowerMin = diff.min !== undefined && diff.min < (target.min ?? 0);
    const higherMax = diff.max !== undefined && maxOf(diff.max) > maxOf(target.max);
    if (lowerMin || higherMax) throw new Error(`${where}: ${diff.id} loosens the cardinality of its base`);
    for (const [key, value] of Object.entries(diff) as [keyof ElementDefinition, unknown][]) {
      if (key === 'id' || key === 'path') continue;
      if (key === 'constraint') {
        const constraints = target.constraint ?? [];
        for (const c of value as NonNullable<ElementDefinition['constraint']>) {
          constraints.push({ ...clone(c), source: c.source ?? profile.url });
        }
        target.constraint = constraints;
      } else {
        (target as unknown as Record<string, unknown>)[key] = clone(value);
      }
    }
  }
  return elements;
}

/** The profile with a freshly generated snapshot, keys in the usual order (differential before snapshot). */
export function withSnapshot(profile: StructureDefinition, lookup: DefinitionLookup): StructureDefinition {
  const element = generateSnapshot(profile, lookup);
  const rest: StructureDefinition = { ...profile };
  delete rest.snapshot;
  delete rest.differential;
  return { ...rest, differential: profile.differential, snapshot: { element } };
}
