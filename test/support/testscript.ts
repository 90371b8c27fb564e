// A small runner for Nictiz's TestScripts (FHIR R4 TestScript), enough for the AMB-naar-HAP scripts as published:
// fixtures read from the files the script names, `create` operations POSTed to the system under test, and the
// asserts they use (responseCode with operator in, resource, expression (FHIRPath), validateProfileId).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { OperationOutcomeIssue, Resource, TestScript, TestScriptSetupActionAssert } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

export interface AssertResult {
  description: string;
  passed: boolean;
  warningOnly: boolean;
  detail?: string;
}

interface Exchange {
  /** The body the engine sent (a fixture) or the system under test pushed. */
  request: Resource;
  status: number;
}

export interface RunOptions {
  /** Performs the operation: `request` is the fixture when the action names one (sourceId), else undefined (the SUT pushes). */
  perform(operation: { type: string; resource: string }, fixture: Resource | undefined): Promise<Exchange>;
  /** Validates against a profile the script declares (its url): the problems, none when it conforms. */
  validate(profileUrl: string, resource: Resource): OperationOutcomeIssue[];
}

function loadTestScript(file: string): { script: TestScript; fixtures: Map<string, Resource> } {
  const script = JSON.parse(readFileSync(file, 'utf8')) as TestScript;
  const fixtures = new Map<string, Resource>();
  for (const f of script.fixture ?? []) {
    const ref = f.resource?.reference;
    if (f.id && ref) fixtures.set(f.id, JSON.parse(readFileSync(resolve(dirname(file), ref), 'utf8')) as Resource);
  }
  return { script, fixtures };
}

function check(a: TestScriptSetupActionAssert, exchange: Exchange, profiles: Map<string, string>, options: RunOptions): { passed: boolean; detail?: string } {
  if (a.responseCode !== undefined) {
    const codes = a.responseCode.split(',').map((c) => Number(c.trim()));
    const operator = a.operator ?? 'equals';
    const passed = operator === 'in' ? codes.includes(exchange.status) : operator === 'notIn' ? !codes.includes(exchange.status) : codes[0] === exchange.status;
    return { passed, detail: `status ${exchange.status}` };
  }
  if (a.validateProfileId !== undefined) {
    const url = profiles.get(a.validateProfileId);
    if (!url) return { passed: false, detail: `profile id ${a.validateProfileId} is not declared by the script` };
    const issues = options.validate(url, exchange.request);
    return { passed: issues.length === 0, detail: issues.map((i) => i.diagnostics).join('; ') };
  }
  if (a.expression !== undefined) {
    const result = fhirpath.evaluate(exchange.request, a.expression, undefined, r4, { async: false }) as unknown[];
    return { passed: result.length === 1 && result[0] === true, detail: JSON.stringify(result) };
  }
  if (a.resource !== undefined) return { passed: exchange.request.resourceType === a.resource, detail: exchange.request.resourceType };
  throw new Error(`The runner does not know this assert: ${JSON.stringify(a)}`);
}

/** Runs every test of the script; an assert that fails with stopTestOnFail ends its test. */
export async function runTestScript(file: string, options: RunOptions): Promise<AssertResult[]> {
  const { script, fixtures } = loadTestScript(file);
  // `profile` and its `_profile` ids, as Nictiz's scripts declare them, by position.
  const profiles = new Map<string, string>();
  const raw = script as TestScript & { _profile?: { id?: string }[]; profile?: (string | { reference?: string })[] };
  (raw.profile ?? []).forEach((p, i) => {
    const id = raw._profile?.[i]?.id;
    const url = typeof p === 'string' ? p : p.reference;
    if (id && url) profiles.set(id, url);
  });
  const results: AssertResult[] = [];
  for (const test of script.test ?? []) {
    let exchange: Exchange | undefined;
    for (const action of test.action ?? []) {
      if (action.operation) {
        const op = action.operation;
        const fixture = op.sourceId ? fixtures.get(op.sourceId) : undefined;
        if (op.sourceId && !fixture) throw new Error(`fixture ${op.sourceId} is not declared`);
        exchange = await options.perform({ type: op.type?.code ?? '', resource: op.resource ?? '' }, fixture);
      } else if (action.assert) {
        if (!exchange) throw new Error('an assert before any operation');
        const { passed, detail } = check(action.assert, exchange, profiles, options);
        results.push({ description: action.assert.description ?? '', passed, warningOnly: action.assert.warningOnly === true, detail });
        // stopTestOnFail is in the R4 TestScript of Nictiz's tooling (R5's element); @medplum/fhirtypes (R4) lacks it.
        if (!passed && (action.assert as { stopTestOnFail?: boolean }).stopTestOnFail) break;
      }
    }
  }
  return results;
}

