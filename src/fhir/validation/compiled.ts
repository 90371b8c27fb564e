import type { IssueSeverity } from './issues.ts';
import type { Expansion } from './terminology.ts';

/** A FHIRPath invariant, parsed once; `test` answers whether a node satisfies it. */
export interface CompiledInvariant {
  readonly key: string;
  readonly human: string;
  /** An error refuses the resource; a warning (a SHOULD) is reported beside an accepted one. */
  readonly severity: IssueSeverity;
  readonly test: (node: unknown, resource: unknown) => boolean;
}

export interface CompiledBinding {
  readonly valueSet: string;
  readonly expansion: Expansion;
}

export interface CompiledSlice {
  readonly name: string;
  /** Set for extension slices: they are told apart by url. */
  readonly extensionUrl?: string;
  readonly matches: (item: unknown) => boolean;
  readonly element: CompiledElement;
}

export interface CompiledSlicing {
  readonly closed: boolean;
  readonly slices: readonly CompiledSlice[];
}

/**
 * The checks one element needs, resolved at load so validation only walks data. Only elements
 * with something to check (or descendants that have) are kept.
 */
export interface CompiledElement {
  /** JSON property name; for a choice element the prefix before the type (`value`). */
  readonly key: string;
  readonly choice: boolean;
  readonly repeats: boolean;
  /** Primitive: its `id` and `extension` live under `_key` in JSON. */
  readonly primitive: boolean;
  /**
   * `_key`, made once: a key built per lookup is a new string V8 must look up in its string table before it can
   * read the property, for every element of every profile at every write.
   */
  readonly shadowKey: string;
  readonly cardinality?: { readonly min: number; readonly max: number };
  readonly fixed?: unknown;
  readonly pattern?: unknown;
  readonly binding?: CompiledBinding;
  /** Choice type suffixes allowed, as they appear in JSON (`Coding`, `DateTime`). */
  readonly allowedTypes?: ReadonlySet<string>;
  readonly referenceTargets?: ReadonlySet<string>;
  /**
   * The profile narrows the base's targets (Task.owner: Organization only): a reference there must name a
   * checkable target. Elsewhere a display-only reference is valid FHIR (a triagist known only by name).
   */
  readonly targetRequired?: boolean;
  readonly invariants: readonly CompiledInvariant[];
  readonly children: readonly CompiledElement[];
  readonly slicing?: CompiledSlicing;
  /**
   * The profile's own `requirements` for the element (why the gateway asks for it and what to send), added to
   * the message of a refusal, so a client learns what to send from the answer.
   */
  readonly hint?: string;
}

export interface CompiledProfile {
  readonly url: string;
  readonly type: string;
  readonly root: CompiledElement;
  /** Required bindings that cannot be checked without a terminology server, for transparency. */
  readonly uncheckedBindings: readonly string[];
}
