// What the ingest says about a record in its format's own words (mappings/<format>/ingest.json): the JSON paths
// its refusals name and the reasons it writes on the handovers a record withdraws. Read and checked once, at load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_FORMATS, type NativeFormat } from '../native/types.ts';

export interface IngestTexts {
  paths: { sequence: string; handoverId: string };
  reasons: { readdressed: string; withdrawn: string };
}

function text(file: string, section: Record<string, unknown> | undefined, key: string): string {
  const value = section?.[key];
  if (typeof value !== 'string' || value === '') throw new Error(`${file}: '${key}' must be a non-empty string`);
  return value;
}

function section(file: string, data: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = data[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file}: '${key}' must be an object`);
  return value as Record<string, unknown>;
}

/** Every handover format's `ingest.json` under `mappingsDir`; a missing or malformed file stops the start. */
export function loadIngestTexts(mappingsDir: string): Record<NativeFormat, IngestTexts> {
  const load = (format: NativeFormat): IngestTexts => {
    const file = join(mappingsDir, format, 'ingest.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const paths = section(file, data, 'paths');
    const reasons = section(file, data, 'reasons');
    return {
      paths: { sequence: text(file, paths, 'sequence'), handoverId: text(file, paths, 'handoverId') },
      reasons: { readdressed: text(file, reasons, 'readdressed'), withdrawn: text(file, reasons, 'withdrawn') },
    };
  };
  return Object.fromEntries(NATIVE_FORMATS.map((f) => [f, load(f)])) as Record<NativeFormat, IngestTexts>;
}
