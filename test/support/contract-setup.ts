// Installed by jest.config.js (setupFilesAfterEnv): a test in which the gateway gave a response that does not
// match its OpenAPI description fails, with what did not match (see contract.ts).
import { takeViolations } from './contract.ts';

function failOnViolations(when: string): void {
  const found = takeViolations();
  if (found.length === 0) return;
  const lines = found.slice(0, 20).map((v) => `  ${v.request}: ${v.problem}`);
  if (found.length > 20) lines.push(`  … and ${found.length - 20} more`);
  throw new Error(`Responses ${when} do not match the OpenAPI description (openapi/openapi.yaml):\n${lines.join('\n')}`);
}

afterEach(() => failOnViolations('in this test'));
afterAll(() => failOnViolations('in beforeAll/afterAll'));
