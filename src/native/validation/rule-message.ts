// A rule's message: literal text with {{expression}} placeholders (FHIRPath results) and {name} placeholders (a
// check's values), compiled at load and rendered for each failing record.
import { compileExpression, type Evaluator, evaluateOrThrow, RulesFileError } from './rule-expression.ts';

type MessagePart = string | { expression: Evaluator } | { variable: string };

export function compileMessage(message: unknown, what: string, variables: readonly string[], members: Set<string>): MessagePart[] {
  if (typeof message !== 'string' || message.trim() === '') throw new RulesFileError(`${what} must be a non-empty string`);
  const parts: MessagePart[] = [];
  const placeholder = /\{\{(.+?)\}\}|\{([A-Za-z]+)\}/g;
  let last = 0;
  for (const m of message.matchAll(placeholder)) {
    parts.push(message.slice(last, m.index));
    if (m[1] !== undefined) {
      parts.push({ expression: compileExpression(m[1], `${what} placeholder {{${m[1]}}}:`, members) });
    } else {
      if (!variables.includes(m[2])) {
        throw new RulesFileError(`${what} uses {${m[2]}}, which this rule does not provide${variables.length ? ` (it provides ${variables.map((v) => `{${v}}`).join(', ')})` : ''}`);
      }
      parts.push({ variable: m[2] });
    }
    last = m.index + m[0].length;
  }
  parts.push(message.slice(last));
  return parts;
}

function renderValue(values: unknown[]): string {
  if (values.length === 0) return '(none)';
  return values.map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join(', ');
}

export function render(parts: MessagePart[], record: unknown, vars: Record<string, string>, what: string, file: string): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      if ('variable' in part) return vars[part.variable] ?? '';
      return renderValue(evaluateOrThrow(part.expression, record, `${what}.message`, file));
    })
    .join('');
}
