// The values the FHIRPath subset works on: collections of JSON items, primitives carrying their `_name` sidecar,
// and the FHIRPath rules for singletons, equality, truth and integer arithmetic. `Unsupported` marks whatever lies
// outside the subset, so that the caller falls back to fhirpath.js.
export type Env = Record<string, unknown>;
export type Fn = (focus: unknown[], env: Env, root: unknown[]) => unknown[];

export interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  children?: AstNode[];
}

/** A primitive with its `_name` sidecar (extensions), so that `.extension(url)` works on it. */
export class Prim {
  readonly value: unknown;
  readonly sidecar: { extension?: unknown[] } | null | undefined;

  constructor(value: unknown, sidecar: { extension?: unknown[] } | null | undefined) {
    this.value = value;
    this.sidecar = sidecar;
  }
}

export const unwrap = (v: unknown): unknown => (v instanceof Prim ? v.value : v);

export class Unsupported extends Error {}

export function singleton(items: unknown[]): unknown {
  if (items.length > 1) throw new Error('FHIRPath: expected a single item');
  return items.length === 0 ? undefined : unwrap(items[0]);
}

export function equal(a: unknown[], b: unknown[]): unknown[] {
  if (a.length === 0 || b.length === 0) return [];
  if (a.length !== b.length) return [false];
  for (let i = 0; i < a.length; i++) {
    const x = unwrap(a[i]);
    const y = unwrap(b[i]);
    if (typeof x === 'object' || typeof y === 'object') throw new Unsupported('object equality');
    if (x !== y) return [false];
  }
  return [true];
}

export function truth(items: unknown[]): boolean | undefined {
  if (items.length === 0) return undefined;
  const v = singleton(items);
  return typeof v === 'boolean' ? v : true;
}

/** Two integer operands, undefined when either is empty; anything else is fhirpath.js's (decimals, quantities). */
export function integers(xs: unknown[], ys: unknown[]): [number, number] | undefined {
  const x = singleton(xs);
  const y = singleton(ys);
  if (x === undefined || y === undefined) return undefined;
  if (!Number.isSafeInteger(x) || !Number.isSafeInteger(y)) throw new Unsupported('arithmetic on non-integers');
  return [x as number, y as number];
}

export function safe(n: number): number {
  if (!Number.isSafeInteger(n)) throw new Unsupported('integer overflow');
  return n;
}
