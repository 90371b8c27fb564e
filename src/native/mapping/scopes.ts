// Where a template key may write: FHIR R4 element paths (from the fhirpath R4 model) or a native record shape.
// Checked once at load so that a typo in a mapping file fails loudly instead of silently dropping data.
import r4 from 'fhirpath/fhir-context/r4';

/** A place in the output a template is building; `child` returns undefined for a key that does not exist there. */
export interface Scope {
  readonly describe: string;
  child(key: string): Scope | undefined;
  /** The scope of a resource named by a literal `resourceType` (contained resources). */
  resource?(resourceType: string): Scope | undefined;
}

interface R4Model {
  path2Type: Record<string, string | { code: string }>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
}
const model = r4 as unknown as R4Model;

const BACKBONE = new Set(['BackboneElement', 'Element']);
const SYSTEM_TYPES: Record<string, string> = { 'System.String': 'string', 'System.Boolean': 'boolean', 'System.Integer': 'integer' };

function typeAt(path: string): string | undefined {
  const t = model.path2Type[path];
  if (t === undefined) return undefined;
  return typeof t === 'string' ? t : t.code;
}

function isResourceType(name: string): boolean {
  return typeAt(`${name}.meta`) === 'Meta' && typeAt(`${name}.id`) !== undefined;
}

/** FHIR choice element names are `value` + the capitalised type name; primitives start lower case. */
function choiceType(path: string, key: string): string | undefined {
  for (let i = 1; i < key.length; i++) {
    const types = model.choiceTypePaths[`${path}.${key.slice(0, i)}`];
    const suffix = key.slice(i);
    if (types?.includes(suffix)) {
      const primitive = suffix[0].toLowerCase() + suffix.slice(1);
      return typeAt(`${primitive}.extension`) ? primitive : suffix;
    }
  }
  return undefined;
}

export class FhirScope implements Scope {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  get describe(): string {
    return `FHIR ${this.path}`;
  }

  static forResource(resourceType: string): FhirScope | undefined {
    return isResourceType(resourceType) ? new FhirScope(resourceType) : undefined;
  }

  resource(resourceType: string): Scope | undefined {
    return FhirScope.forResource(resourceType);
  }

  child(key: string): Scope | undefined {
    if (key === 'resourceType') return LEAF;
    if (key.startsWith('_')) {
      // Extensions of a primitive element (`_family`): the element must exist; its sidecar is an Element.
      return this.child(key.slice(1)) ? new FhirScope('Element') : undefined;
    }
    const full = `${this.path}.${key}`;
    const elsewhere = model.pathsDefinedElsewhere[full];
    if (elsewhere) return new FhirScope(elsewhere);
    let type = typeAt(full) ?? choiceType(this.path, key);
    if (type === undefined) {
      const isResource = !this.path.includes('.') && isResourceType(this.path);
      const isDatatype = !this.path.includes('.') && !isResource;
      const inherited = isResource
        ? (typeAt(`DomainResource.${key}`) ?? typeAt(`Resource.${key}`))
        : isDatatype
          ? typeAt(`Element.${key}`)
          : typeAt(`BackboneElement.${key}`);
      if (inherited === undefined) return undefined;
      type = inherited;
    }
    if (BACKBONE.has(type) && typeAt(`${full}.id`) !== undefined) return new FhirScope(full);
    return new FhirScope(SYSTEM_TYPES[type] ?? type);
  }
}

/** A native record shape: objects name their fields, arrays hold one element shape, strings are leaf types. */
export type Shape = string | Shape[] | { [key: string]: Shape };

export class ShapeScope implements Scope {
  private readonly shape: Shape;
  readonly describe: string;

  constructor(shape: Shape, describe: string) {
    this.shape = shape;
    this.describe = describe;
  }

  child(key: string): Scope | undefined {
    let s: Shape = this.shape;
    while (Array.isArray(s)) s = s[0];
    if (typeof s === 'string' || !(key in s)) return undefined;
    return new ShapeScope(s[key], `${this.describe}.${key}`);
  }
}

/** Inputs of a transform and other places whose keys are free. */
export const ANY: Scope = { describe: 'any', child: () => ANY, resource: () => ANY };
const LEAF: Scope = { describe: 'leaf', child: () => undefined };
