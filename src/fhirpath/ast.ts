// Reading fhirpath.js's parse tree: children, literals, function names and their literal arguments.
import { type AstNode, Unsupported } from './values.ts';

export function children(node: AstNode): AstNode[] {
  return node.children ?? [];
}

export function literal(node: AstNode): unknown {
  const lit = children(node)[0];
  switch (lit?.type) {
    case 'StringLiteral': {
      const raw = lit.text ?? '';
      if (raw.includes('\\')) throw new Unsupported('escapes');
      return raw.slice(1, -1);
    }
    case 'BooleanLiteral':
      return lit.text === 'true';
    case 'NumberLiteral':
      return Number(lit.text);
    default:
      throw new Unsupported(`literal ${lit?.type}`);
  }
}

export function paramList(fn: AstNode): AstNode[] {
  const functn = children(fn)[0];
  const params = children(functn).find((c) => c.type === 'ParamList');
  return params ? children(params) : [];
}

export function functionName(fn: AstNode): string {
  return children(children(fn)[0])[0]?.text ?? '';
}

export function literalArg(params: AstNode[], i: number): string {
  const p = params[i];
  const term = p?.type === 'TermExpression' ? children(p)[0] : undefined;
  if (term?.type !== 'LiteralTerm') throw new Unsupported('non-literal argument');
  return String(literal(term));
}

export function typeArg(params: AstNode[]): string {
  const text = params[0]?.text ?? '';
  if (!/^[A-Za-z]+$/.test(text)) throw new Unsupported('type argument');
  return text;
}
