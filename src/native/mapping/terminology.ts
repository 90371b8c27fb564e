// Code systems and concept maps as FHIR resources (mappings/terminology/*.json): the one source of truth
// for code translation, used by the mapping engine and served by the HTTP layer ($translate).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeSystem, ConceptMap, Parameters, ParametersParameter } from '@medplum/fhirtypes';

export const GATEWAY_BASE = 'https://handover-gateway.nl/fhir';

interface TranslateRequest {
  /** Canonical URL of one ConceptMap to use. */
  url?: string;
  /** Source value set or code system of the concept (narrows the maps considered). */
  source?: string;
  /** Target value set or code system wanted. */
  target?: string;
  /** Target code system wanted ($translate `targetsystem`). */
  targetsystem?: string;
  system: string;
  code: string;
  /** Translate against the maps' direction (target to source); only exact (equal/equivalent) entries are used. */
  reverse?: boolean;
}

interface TranslateMatch {
  code: string;
  system: string;
  display?: string;
  equivalence: string;
  source: string;
}

export interface Terminology {
  codeSystems: CodeSystem[];
  conceptMaps: ConceptMap[];
  /** FHIR `$translate`: Parameters with `result`, `message` and `match` parts. */
  translate(request: TranslateRequest): Parameters;
  /** Fast path for the mapping engine: the first mapped code in `targetSystem`, or undefined. */
  translateCode(system: string, code: string, targetSystem: string): string | undefined;
  display(system: string, code: string): string | undefined;
}

interface Entry {
  code: string;
  equivalence: string;
  map: ConceptMap;
}

const MAPPED = new Set(['relatedto', 'equivalent', 'equal', 'wider', 'subsumes', 'narrower', 'specializes', 'inexact']);
const EXACT = new Set(['equivalent', 'equal']);

export function loadTerminology(mappingsDir: string): Terminology {
  const dir = join(mappingsDir, 'terminology');
  const codeSystems: CodeSystem[] = [];
  const conceptMaps: ConceptMap[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const path = join(dir, file);
    let resource: { resourceType?: string };
    try {
      resource = JSON.parse(readFileSync(path, 'utf8')) as { resourceType?: string };
    } catch (err) {
      throw new Error(`${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (resource.resourceType === 'CodeSystem') codeSystems.push(resource as CodeSystem);
    else if (resource.resourceType === 'ConceptMap') conceptMaps.push(resource as ConceptMap);
    else throw new Error(`${path}: expected a CodeSystem or ConceptMap, found ${String(resource.resourceType)}`);
  }
  return buildTerminology(codeSystems, conceptMaps);
}

function buildTerminology(codeSystems: CodeSystem[], conceptMaps: ConceptMap[]): Terminology {
  const displays = new Map<string, string>();
  const valueSetToSystem = new Map<string, string>();
  for (const cs of codeSystems) {
    if (!cs.url) throw new Error(`CodeSystem ${cs.id ?? '?'} has no url`);
    if (cs.valueSet) valueSetToSystem.set(cs.valueSet, cs.url);
    for (const c of cs.concept ?? []) if (c.display) displays.set(`${cs.url}|${c.code}`, c.display);
  }
  // (source system|target system) -> code -> targets, and the reverse for exact entries.
  const forward = new Map<string, Map<string, Entry[]>>();
  const reverse = new Map<string, Map<string, Entry[]>>();
  const add = (index: Map<string, Map<string, Entry[]>>, key: string, code: string, entry: Entry): void => {
    let byCode = index.get(key);
    if (!byCode) index.set(key, (byCode = new Map()));
    const list = byCode.get(code);
    if (list) list.push(entry);
    else byCode.set(code, [entry]);
  };
  for (const map of conceptMaps) {
    if (!map.url) throw new Error(`ConceptMap ${map.id ?? '?'} has no url`);
    for (const group of map.group ?? []) {
      if (!group.source || !group.target) throw new Error(`ConceptMap ${map.url}: a group lacks source or target`);
      for (const element of group.element ?? []) {
        if (!element.code) throw new Error(`ConceptMap ${map.url}: an element lacks its code`);
        for (const target of element.target ?? []) {
          if (!target.code || !MAPPED.has(target.equivalence)) continue;
          add(forward, `${group.source}|${group.target}`, element.code, { code: target.code, equivalence: target.equivalence, map });
          if (EXACT.has(target.equivalence)) {
            add(reverse, `${group.target}|${group.source}`, target.code, { code: element.code, equivalence: target.equivalence, map });
          }
        }
      }
    }
  }
  const systemOf = (uri: string | undefined): string | undefined => (uri ? (valueSetToSystem.get(uri) ?? uri) : undefined);

  const matches = (req: TranslateRequest): TranslateMatch[] => {
    const wantTarget = systemOf(req.targetsystem ?? req.target);
    const sourceSystem = systemOf(req.source);
    if (sourceSystem && sourceSystem !== req.system) return [];
    const index = req.reverse ? reverse : forward;
    const out: TranslateMatch[] = [];
    for (const [key, byCode] of index) {
      const [from, to] = key.split('|');
      if (from !== req.system || (wantTarget && to !== wantTarget)) continue;
      for (const entry of byCode.get(req.code) ?? []) {
        if (req.url && entry.map.url !== req.url) continue;
        out.push({ code: entry.code, system: to, display: displays.get(`${to}|${entry.code}`), equivalence: entry.equivalence, source: entry.map.url ?? '' });
      }
    }
    return out;
  };

  return {
    codeSystems,
    conceptMaps,
    translate(req: TranslateRequest): Parameters {
      let found = matches(req);
      if (found.length === 0 && !req.reverse && !req.url) found = matches({ ...req, reverse: true });
      const parameter: ParametersParameter[] = [{ name: 'result', valueBoolean: found.length > 0 }];
      if (found.length === 0) parameter.push({ name: 'message', valueString: `No translation for ${req.system}|${req.code}` });
      for (const m of found) {
        parameter.push({
          name: 'match',
          part: [
            { name: 'equivalence', valueCode: m.equivalence },
            { name: 'concept', valueCoding: { system: m.system, code: m.code, ...(m.display ? { display: m.display } : {}) } },
            { name: 'source', valueUri: m.source },
          ],
        });
      }
      return { resourceType: 'Parameters', parameter };
    },
    translateCode(system: string, code: string, targetSystem: string): string | undefined {
      return (
        forward.get(`${system}|${targetSystem}`)?.get(code)?.[0]?.code ?? reverse.get(`${system}|${targetSystem}`)?.get(code)?.[0]?.code
      );
    },
    display(system: string, code: string): string | undefined {
      return displays.get(`${system}|${code}`);
    },
  };
}
