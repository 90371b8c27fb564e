import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeSystem, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import type { BaseDefinitions } from './definitions.ts';
import { isObject } from './json.ts';

interface ProfileFile {
  readonly file: string;
  readonly definition: StructureDefinition;
}

export interface ProfileDirectory {
  readonly profiles: ProfileFile[];
  readonly valueSets: ValueSet[];
  readonly codeSystems: CodeSystem[];
}

/** Load errors name the file, so a broken deployment says which file to fix. */
export function fileError(file: string, message: string): Error {
  return new Error(`Profile file ${file}: ${message}`);
}

/**
 * Reads the top level of the profiles directory (subdirectories belong to other concerns):
 * StructureDefinitions, plus ValueSets and CodeSystems they may bind to. Other JSON resources are
 * not conformance resources of this validator and are left alone.
 */
export function readProfileDirectory(dir: string, base: BaseDefinitions): ProfileDirectory {
  const result: ProfileDirectory = { profiles: [], valueSets: [], codeSystems: [] };
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.json'))
    .map((d) => join(dir, d.name))
    .sort();
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw fileError(file, `not valid JSON (${(err as Error).message})`);
    }
    if (!isObject(json)) throw fileError(file, 'not a JSON object');
    if (json.resourceType === 'ValueSet') result.valueSets.push(json as unknown as ValueSet);
    else if (json.resourceType === 'CodeSystem') result.codeSystems.push(json as unknown as CodeSystem);
    else if (json.resourceType === 'StructureDefinition') {
      const definition = json as unknown as StructureDefinition;
      checkShape(file, definition, base);
      result.profiles.push({ file, definition });
    }
  }
  return result;
}

function checkShape(file: string, sd: StructureDefinition, base: BaseDefinitions): void {
  if (!sd.url) throw fileError(file, 'no url');
  if (!sd.type) throw fileError(file, 'no type');
  if (sd.derivation !== 'constraint') throw fileError(file, `derivation must be 'constraint', not '${sd.derivation ?? ''}'`);
  if (!sd.baseDefinition) throw fileError(file, 'no baseDefinition');
  const parent = base.structureDefinition(sd.baseDefinition);
  if (!parent || parent.derivation === 'constraint') {
    throw fileError(file, `unknown base ${sd.baseDefinition} (must be an R4 core type or resource)`);
  }
  if (parent.type !== sd.type) throw fileError(file, `type ${sd.type} does not match its base ${parent.type ?? '?'}`);
  const elements = sd.snapshot?.element;
  if (!elements?.length) throw fileError(file, 'no snapshot (run scripts/build-profile-snapshots.ts)');
  if (elements[0].id !== sd.type) throw fileError(file, `snapshot does not start with ${sd.type}`);
  const ids = new Set(elements.map((e) => e.id));
  for (const diff of sd.differential?.element ?? []) {
    if (!ids.has(diff.id)) throw fileError(file, `snapshot lacks differential element ${diff.id ?? '?'} (regenerate it)`);
  }
}
