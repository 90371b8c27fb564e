// The AZ-IG referral message's profile rules (profiles/az-ig/referral-message.json), compiled once and run on a message Bundle.
import { readFileSync } from 'node:fs';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

interface RuleFile {
  igVersion: string;
  event: { system: string; code: string; display?: string };
  profiles: Record<string, string>;
  attachment: { maxBytes: number; contentTypes: Record<string, string> };
  rules: { type: string; element: string; expression: string; human: string; fsh: string }[];
}

interface CompiledRule {
  type: string;
  element: string;
  human: string;
  test: (resource: Resource) => unknown[];
}

/** What the gateway holds a received AZ-IG message to, and what it stamps on one it renders. */
export interface MessageRules {
  readonly igVersion: string;
  readonly event: { system: string; code: string; display?: string };
  /** The IG's profile per resource type of the message (rendered messages declare them in meta.profile). */
  readonly profiles: Readonly<Record<string, string>>;
  readonly attachment: { maxBytes: number; contentTypes: Readonly<Record<string, string>> };
  /** Every rule the message breaks, each naming its element (entry index and resource type included). */
  check(bundle: Bundle): OperationOutcomeIssue[];
}

export function loadMessageRules(file: string): MessageRules {
  const spec = JSON.parse(readFileSync(file, 'utf8')) as RuleFile;
  const compiled: CompiledRule[] = spec.rules.map((rule) => {
    try {
      const fn = fhirpath.compile(rule.expression, r4, { async: false });
      return { type: rule.type, element: rule.element, human: rule.human, test: (resource: Resource) => fn(resource) as unknown[] };
    } catch (err) {
      // A rule that does not parse stops the start, as a bad mapping does.
      throw new Error(`${file}: rule for ${rule.element}: ${(err as Error).message}`);
    }
  });
  return {
    igVersion: spec.igVersion,
    event: spec.event,
    profiles: spec.profiles,
    attachment: spec.attachment,
    check(bundle) {
      const issues: OperationOutcomeIssue[] = [];
      const run = (rule: CompiledRule, resource: Resource, where: string): void => {
        let result: unknown[];
        try {
          result = rule.test(resource);
        } catch {
          result = [];
        }
        // As for invariants: anything but a single true fails.
        if (result.length !== 1 || result[0] !== true) {
          issues.push({ severity: 'error', code: 'invariant', diagnostics: `${where}: ${rule.human} (AZ-IG ${spec.igVersion})`, expression: [rule.element] });
        }
      };
      for (const rule of compiled) {
        if (rule.type === 'Bundle') {
          run(rule, bundle, 'Bundle');
          continue;
        }
        (bundle.entry ?? []).forEach((entry, index) => {
          if (entry.resource?.resourceType === rule.type) run(rule, entry.resource, `Bundle.entry[${index}] (${rule.type})`);
        });
      }
      return issues;
    },
  };
}
