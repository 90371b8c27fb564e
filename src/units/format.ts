// The native unit-status format `eenheid` (mappings/eenheid/): its JSON Schema (400), its rules (422) with the same
// engine as the handover formats, then what needs the sender and the clock: the organisation's own status code
// (422 when its table lacks it), a unit of another organisation (403) and a fix from the future (422).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { forbidden, HttpError } from '../fhir/outcomes.ts';
import type { NativeIssue } from '../native/types.ts';
import { compileRules, type CompiledRule } from '../native/validation/rules.ts';
import { schemaIssues } from '../native/validation/schema-issues.ts';
import type { UnitKind, UnitTables } from './tables.ts';

const UNIT_FORMAT = 'eenheid';

/** One accepted fix, in the regional terms. */
export interface UnitFix {
  unitId: string;
  ura: string;
  callSign: string;
  kind: UnitKind;
  status: string;
  ownStatus: string;
  handoverId?: string;
  lat: number;
  lon: number;
  accuracyM?: number;
  fixTime: Date;
}

interface EenheidRecord {
  ura: string;
  roepnaam: string;
  soort: UnitKind;
  status: string;
  positie: { lat: number; lon: number; nauwkeurigheid?: number };
  tijd: string;
  overdrachtId?: string;
}

/** A unit's FHIR id: its organisation and call sign (the schema keeps both to the id alphabet). */
function unitId(ura: string, callSign: string): string {
  return `unit-${ura}-${callSign}`;
}

function refusal(status: 400 | 422, issues: NativeIssue[]): HttpError {
  const code = status === 400 ? 'invalid' : 'business-rule';
  const body: OperationOutcome = { resourceType: 'OperationOutcome', issue: issues.map((i) => ({ severity: 'error', code, expression: [i.path], diagnostics: i.message })) };
  return new HttpError(status, body);
}

/** At most this many fixes in one request (a system reporting all its units at once). */
const MAX_FIXES_PER_REQUEST = 1000;

export interface UnitFormat {
  schema: Record<string, unknown>;
  /** The record as a fix of the sender's unit, or an HttpError (400, 403, 422) saying what is wrong. */
  parse(record: unknown, senderUra: string, now: Date): UnitFix;
  /**
   * A request's body: one record, or an array of records (a system sending all its units' fixes at once). All or
   * nothing: the first record that fails refuses the request, its issues located as `$[i]...`.
   */
  parseBody(body: unknown, senderUra: string, now: Date): { fixes: UnitFix[]; batch: boolean };
}

export function loadUnitFormat(mappingsDir: string, tables: UnitTables, maxClockSkewSeconds: number): UnitFormat {
  const schemaFile = join(mappingsDir, UNIT_FORMAT, 'schema.json');
  const rulesFile = join(mappingsDir, UNIT_FORMAT, 'rules.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2020.default({ strict: true, allErrors: true, verbose: true });
  addFormats.default(ajv);
  ajv.addVocabulary(['x-expected']);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new Error(`${schemaFile}: is not a valid JSON Schema (draft 2020-12, strict): ${(err as Error).message}`, { cause: err });
  }
  const rules: CompiledRule[] = compileRules(rulesFile, JSON.parse(readFileSync(rulesFile, 'utf8')) as unknown, UNIT_FORMAT, schema);

  const format: UnitFormat = {
    schema,
    parseBody(body, senderUra, now) {
      if (!Array.isArray(body)) return { fixes: [format.parse(body, senderUra, now)], batch: false };
      if (body.length === 0 || body.length > MAX_FIXES_PER_REQUEST) {
        throw refusal(400, [{ path: '$', message: `An array of fixes holds 1 to ${MAX_FIXES_PER_REQUEST} records, got ${body.length}` }]);
      }
      const fixes = body.map((record: unknown, i) => {
        try {
          return format.parse(record, senderUra, now);
        } catch (err) {
          if (err instanceof HttpError) {
            for (const issue of err.outcome.issue ?? []) {
              issue.expression = (issue.expression ?? ['$']).map((e) => e.replace(/^\$/, `$[${i}]`));
              issue.diagnostics = `fix ${i}: ${issue.diagnostics ?? ''}`;
            }
          }
          throw err;
        }
      });
      return { fixes, batch: true };
    },
    parse(record, senderUra, now) {
      if (!validate(record)) throw refusal(400, schemaIssues(validate.errors ?? [], UNIT_FORMAT));
      const ruleIssues = rules.flatMap((r) => r.run(record));
      if (ruleIssues.length > 0) throw refusal(422, ruleIssues);
      const r = record as EenheidRecord;
      // The token decides who sends: a system reports its own organisation's units only.
      if (r.ura !== senderUra) throw forbidden(`Unit ${r.roepnaam} belongs to organisation ${r.ura}; your token acts for ${senderUra} and may report only its own units`, ['$.ura']);
      const own = tables.ownCodes[senderUra];
      if (!own) throw refusal(422, [{ path: '$.status', message: `No unit status codes are configured for organisation ${senderUra} (mappings/eenheid/status-codes.json)` }]);
      const status = own[r.status];
      if (!status) throw refusal(422, [{ path: '$.status', message: `Status code '${r.status}' is not one of organisation ${senderUra}'s unit status codes (${Object.keys(own).join(', ')})` }]);
      const fixTime = new Date(r.tijd);
      if (fixTime.getTime() > now.getTime() + maxClockSkewSeconds * 1000) {
        throw refusal(422, [{ path: '$.tijd', message: `tijd ${r.tijd} is in the future (more than ${maxClockSkewSeconds} s after the gateway's clock, ${now.toISOString()})` }]);
      }
      return {
        unitId: unitId(r.ura, r.roepnaam),
        ura: r.ura,
        callSign: r.roepnaam,
        kind: r.soort,
        status,
        ownStatus: r.status,
        handoverId: r.overdrachtId,
        lat: r.positie.lat,
        lon: r.positie.lon,
        accuracyM: r.positie.nauwkeurigheid,
        fixTime,
      };
    },
  };
  return format;
}
