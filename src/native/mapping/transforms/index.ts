// The named value transforms mapping files may use (`"$fn": "<name>"`): what FHIRPath cannot do.
import type { Terminology } from '../terminology.ts';
import { formatAddressLine, parseAddressLine } from './address.ts';
import { formatListName, formatSpokenName, givenNames, parseListName, parseSpokenName } from './names.ts';
import {
  instantToAmsterdam,
  instantToNlDate,
  instantToNlTime,
  isoDateToNl,
  localDateTime,
  localWindow,
  nlDateToIso,
} from './time.ts';

export interface TransformContext {
  terminology: Terminology;
  /** The texts of the input's numbers by value (src/fhir/number-text.ts): a number copied as it is keeps its text. */
  numberTexts?: ReadonlyMap<number, string>;
}

export interface Transform {
  fn(input: unknown, args: readonly unknown[], ctx: TransformContext): unknown;
  /** Receives the whole FHIRPath result collection instead of its first item. */
  collection?: boolean;
  /** Literal arguments the transform needs: [min, max]. */
  args?: [number, number];
}

const single = (fn: (value: unknown) => unknown): Transform => ({ fn: (input) => fn(input), args: [0, 0] });

/**
 * `translate` [targetSystem, sourceSystem?]: the first item (a Coding, or a code of `sourceSystem`) that a
 * ConceptMap of the terminology maps to `targetSystem` gives the result code.
 */
const translate: Transform = {
  collection: true,
  args: [1, 2],
  fn(input, args, ctx) {
    const target = String(args[0]);
    for (const item of input as unknown[]) {
      const system = typeof item === 'object' && item !== null ? (item as { system?: string }).system : (args[1] as string | undefined);
      const code = typeof item === 'object' && item !== null ? (item as { code?: string }).code : item;
      if (typeof system !== 'string' || typeof code !== 'string') continue;
      if (system === target) return code;
      const out = ctx.terminology.translateCode(system, code, target);
      if (out !== undefined) return out;
    }
    return undefined;
  },
};

/** `display` [system]: the display of a code in one of the gateway's CodeSystems. */
const display: Transform = {
  args: [1, 1],
  fn: (input, args, ctx) => (typeof input === 'string' ? ctx.terminology.display(String(args[0]), input) : undefined),
};

export const TRANSFORMS: Readonly<Record<string, Transform>> = {
  nlDateToIso: single(nlDateToIso),
  isoDateToNl: single(isoDateToNl),
  localDateTime: single(localDateTime),
  localWindow: single(localWindow),
  instant: single(instantToAmsterdam),
  instantToNlDate: single(instantToNlDate),
  instantToNlTime: single(instantToNlTime),
  parseListName: single(parseListName),
  formatListName: single(formatListName),
  parseSpokenName: single(parseSpokenName),
  formatSpokenName: single(formatSpokenName),
  givenNames: single(givenNames),
  parseAddressLine: single(parseAddressLine),
  formatAddressLine: single(formatAddressLine),
  translate,
  display,
};
