// The mapping between native records and FHIR, both ways, as data: mappings/<format>/to-fhir.json,
// from-fhir.json (the fields it may write read off the format's schema.json), and the terminology in mappings/terminology/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HandoverView, MappedRecord, NativeFormat, NativeRecord, Perspective } from '../types.ts';
import { NATIVE_FORMATS } from '../types.ts';
import type { CompiledRender } from './render.ts';
import { compileRender, runRender } from './render.ts';
import { shapeOfSchema } from './shape.ts';
import type { Terminology } from './terminology.ts';
import { loadTerminology } from './terminology.ts';
import type { CompiledToFhir } from './to-fhir.ts';
import { compileToFhir, runToFhir } from './to-fhir.ts';
import type { TransformContext } from './transforms/index.ts';

export type { Terminology } from './terminology.ts';

export interface NativeMapper {
  toFhir(format: NativeFormat, record: NativeRecord): MappedRecord;
  render(format: NativeFormat, view: HandoverView, perspective: Perspective, sequence: number): NativeRecord;
  readonly terminology: Terminology;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read mapping file: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

export interface LoadOptions {
  /** Run every FHIRPath expression through both the fast path and fhirpath.js and fail on a difference (tests). */
  verifyFastPath?: boolean;
}

export function loadNativeMapper(mappingsDir: string, options: LoadOptions = {}): NativeMapper {
  const terminology = loadTerminology(mappingsDir);
  const ctx: TransformContext = { terminology };
  const toFhirByFormat = new Map<NativeFormat, CompiledToFhir>();
  const renderByFormat = new Map<NativeFormat, CompiledRender>();
  for (const format of NATIVE_FORMATS) {
    const dir = join(mappingsDir, format);
    const toFhirFile = join(dir, 'to-fhir.json');
    toFhirByFormat.set(format, compileToFhir(toFhirFile, format, readJson(toFhirFile), options.verifyFastPath));
    const fromFhirFile = join(dir, 'from-fhir.json');
    const schemaFile = join(dir, 'schema.json');
    const shape = shapeOfSchema(readJson(schemaFile), schemaFile);
    renderByFormat.set(format, compileRender(fromFhirFile, format, readJson(fromFhirFile), shape, options.verifyFastPath));
  }
  const pick = <T>(map: Map<NativeFormat, T>, format: NativeFormat): T => {
    const found = map.get(format);
    if (!found) throw new Error(`unknown native format ${String(format)}`);
    return found;
  };
  return {
    terminology,
    toFhir: (format, record) => runToFhir(pick(toFhirByFormat, format), record, ctx),
    render: (format, view, perspective, sequence) => runRender(pick(renderByFormat, format), view, perspective, sequence, ctx),
  };
}
