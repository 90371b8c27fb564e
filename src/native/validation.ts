// Validation of native records (the region's native formats; examples in test/fixtures/native-examples): first the format's JSON Schema
// (mappings/<format>/schema.json, refused with 400), then, only for records that pass it, the format's
// cross-field rules (mappings/<format>/rules.json, refused with 422). Everything is compiled once, at load.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { NATIVE_FORMATS, type NativeFormat, type NativeIssue, type NativeValidationResult } from './types.ts';
import { compileRules, type CompiledRule } from './validation/rules.ts';
import { schemaIssues } from './validation/schema-issues.ts';
import { assertTimeZoneData } from './validation/time.ts';

export interface NativeValidators {
  /** Schema first (400); rules only for a record that passes it (422). */
  validate(format: NativeFormat, record: unknown): NativeValidationResult;
  /** The loaded JSON Schemas, e.g. for the OpenAPI documentation. */
  readonly schemas: Readonly<Record<NativeFormat, Readonly<Record<string, unknown>>>>;
}

interface FormatValidator {
  schema: ValidateFunction;
  rules: CompiledRule[];
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Loads and compiles the schema and rules of every native format from `mappingsDir`
 * (`<format>/schema.json`, `<format>/rules.json`). Throws an Error naming the file and the problem when
 * either is missing or wrong, so that a broken mapping stops start-up rather than a request. `verifyFastPath`
 * (tests) evaluates every rule with both FHIRPath evaluators and throws where they differ.
 */
export async function loadNativeValidators(mappingsDir: string, options: { verifyFastPath?: boolean } = {}): Promise<NativeValidators> {
  assertTimeZoneData();
  // `x-expected` is documentation for vendors and for our error messages; declaring it keeps strict mode on
  // for every other keyword, so a mis-spelt keyword in a schema still fails the load.
  // Both packages are CommonJS: under NodeNext the default import is module.exports, the class is `.default`.
  const ajv = new Ajv2020.default({ strict: true, allErrors: true, verbose: true });
  addFormats.default(ajv);
  ajv.addVocabulary(['x-expected']);

  const validators = new Map<NativeFormat, FormatValidator>();
  const schemas = {} as Record<NativeFormat, Record<string, unknown>>;
  for (const format of NATIVE_FORMATS) {
    const schemaFile = path.join(mappingsDir, format, 'schema.json');
    const rulesFile = path.join(mappingsDir, format, 'rules.json');
    const schema = await readJson(schemaFile);
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new Error(`${schemaFile}: must hold a JSON Schema object`);
    let compiled: ValidateFunction;
    try {
      compiled = ajv.compile(schema);
    } catch (err) {
      throw new Error(`${schemaFile}: is not a valid JSON Schema (draft 2020-12, strict): ${(err as Error).message}`, { cause: err });
    }
    const rules = compileRules(rulesFile, await readJson(rulesFile), format, schema as Record<string, unknown>, options.verifyFastPath);
    validators.set(format, { schema: compiled, rules });
    schemas[format] = schema as Record<string, unknown>;
  }

  return {
    schemas,
    validate(format, record) {
      const validator = validators.get(format);
      if (!validator) throw new Error(`unknown native format '${String(format)}' (known: ${NATIVE_FORMATS.join(', ')})`);
      if (!validator.schema(record)) {
        return { ok: false, status: 400, issues: schemaIssues(validator.schema.errors ?? [], format) };
      }
      // A loop, not flatMap with a callback made at each call: that closure lost its optimised code (and the rules
      // inlined into it) whenever no live one held it, and was compiled again several times a minute (--trace-opt).
      const issues: NativeIssue[] = [];
      for (const rule of validator.rules) issues.push(...rule.run(record));
      return issues.length === 0 ? { ok: true } : { ok: false, status: 422, issues };
    },
  };
}

/**
 * The validation result as a FHIR OperationOutcome: one error per issue, `invalid` for a record that does not
 * follow its format (400) and `business-rule` for one that breaks a rule (422), the issue's JSON path in the
 * native record as `expression`.
 */
export function toOperationOutcome(result: NativeValidationResult): OperationOutcome {
  if (result.ok) {
    return {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', diagnostics: 'the record is valid' }],
    };
  }
  const code: OperationOutcomeIssue['code'] = result.status === 400 ? 'invalid' : 'business-rule';
  return {
    resourceType: 'OperationOutcome',
    issue: result.issues.map((issue) => ({ severity: 'error', code, expression: [issue.path], diagnostics: issue.message })),
  };
}
