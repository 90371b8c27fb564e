// The mapping templates run as generated JavaScript (src/native/mapping/generate.ts); the interpreter
// (evaluate.ts) says what a template means. Every kind of node is checked here on inputs that take each of its
// branches, both ways, as JSON with the texts numbers keep; and every record any test maps is checked the same way
// (test/support/mapping-setup.ts).
import { Compiler, type Node, type ObjNode } from '../../src/native/mapping/compile.ts';
import { evaluateObject, interpretNode, interpretObject, MAPPING_HELPERS as helpers } from '../../src/native/mapping/evaluate.ts';
import { generateNode, generateObject } from '../../src/native/mapping/generate.ts';
import { ANY } from '../../src/native/mapping/scopes.ts';
import type { TransformContext } from '../../src/native/mapping/transforms/index.ts';
import { numberTextsByValue, parseKeepingNumberTexts } from '../../src/fhir/number-text.ts';

const compiler = new Compiler({ file: 'test', env: ['limit'] });
const compile = (template: unknown): Node => compiler.node(template, ANY, 'template', new Set(['limit']));

const terminology = {
  codeSystems: [],
  conceptMaps: [],
  translate: () => ({ resourceType: 'Parameters' as const }),
  translateCode: (system: string, code: string, target: string) => (system === 'urn:a' && target === 'urn:b' ? `${code}-b` : undefined),
  display: (system: string, code: string) => (system === 'urn:a' ? `display of ${code}` : undefined),
};

/** The input as the request body parser reads it: numbers written as `37.0` keep that text. */
function input(text: string): { focus: unknown; ctx: TransformContext } {
  const focus = parseKeepingNumberTexts(text);
  return { focus, ctx: { terminology, numberTexts: numberTextsByValue(focus) } };
}

const TEMPLATE = {
  $let: { doubled: '%limit' },
  kind: 'request',
  empty: '',
  none: null,
  count: 3,
  flag: false,
  name: '=name',
  names: { $value: 'names', $many: true },
  upper: { $value: 'dates', $fn: 'nlDateToIso', $many: true },
  first: { $value: 'dates', $fn: 'nlDateToIso' },
  code: { $value: 'codes', $fn: 'translate', $args: ['urn:b', 'urn:a'] },
  shown: { $value: 'codes.first()', $fn: 'display', $args: ['urn:a'] },
  temperature: '=temperature',
  period: { $input: { date: '=date', from: '=from', to: '=to' }, $fn: 'localWindow' },
  either: { $first: ['=missing', { inner: '=missing' }, '=name', 'fallback'] },
  nested: { value: '=missing' },
  cancelled: { $when: 'cancelled', reason: '=cancelReason' },
  only: { $in: 'child', value: '=value', limit: '=%limit' },
  twice: '=%doubled',
  emptyValue: '=needs',
  needs: { $require: ['a'], a: '=a', b: '=b' },
  items: [{ $each: 'list', v: '=v', t: '=t' }, '=extra', { $value: 'names', $many: true }, ['=name', 'x'], { fixed: 1 }, '=missing'],
};

const INPUTS = [
  '{"name":"Jansen","names":["a","b",""],"dates":["01-02-2024","31-12-2024"],"codes":["x"],"temperature":37.0,"cancelled":true,"child":[{"value":1.50}],"a":1,"date":"2024-03-31","from":"01:30","to":"03:30","list":[{"v":1},{"t":"only t"},{}],"extra":["e1","e2"]}',
  '{"names":[],"dates":[],"codes":[],"cancelled":false,"cancelReason":"r","child":[],"b":2,"date":"2024-06-01","from":"23:00","to":"01:00","list":[],"extra":"single"}',
  '{"cancelled":true,"cancelReason":"why","temperature":36.5,"needs":{},"a":"","date":"2024-06-01","list":[{"v":0}]}',
  '{}',
];

describe.each(INPUTS.map((text, i) => [i, text]))('input %i', (_i, text) => {
  const { focus, ctx } = input(text as string);
  const env = { limit: [7] };

  it('gives the same object generated as interpreted, the texts of its numbers included', () => {
    const node = compile(TEMPLATE) as ObjNode;
    for (const skipWhen of [false, true]) {
      const generated = generateObject(node, helpers)(focus, env, ctx, skipWhen);
      const interpreted = interpretObject(node, focus, env, ctx, skipWhen);
      expect(JSON.stringify(generated)).toBe(JSON.stringify(interpreted));
      expect(generated).toEqual(interpreted);
    }
  });

  it.each(Object.entries(TEMPLATE).filter(([key]) => !key.startsWith('$') && key !== 'twice'))('gives the same value for %s alone', (_key, template) => {
    const node = compile(template);
    const generated = generateNode(node, helpers)(focus, env, ctx);
    const interpreted = interpretNode(node, focus, env, ctx);
    expect(JSON.stringify(generated)).toBe(JSON.stringify(interpreted));
  });
});

it('keeps the text a number was written with where it copies it as it is, as the interpreter does', () => {
  const { focus, ctx } = input('{"temperature":37.0}');
  const out = evaluateObject(compile({ temperature: '=temperature' }) as ObjNode, focus, {}, ctx, false);
  expect(JSON.stringify(out)).toBe('{"temperature":37.0}');
});

it('leaves out an object whose data-driven fields gave nothing, and one a $when refuses, but keeps an empty object a $when allows', () => {
  const { focus, ctx } = input('{"cancelled":true}');
  const node = compile({ a: { value: '=missing' }, b: { $when: 'cancelled', reason: '=missing' }, c: { $when: 'missing', x: 'y' } }) as ObjNode;
  expect(generateObject(node, helpers)(focus, {}, ctx, false)).toEqual({ b: {} });
  expect(interpretObject(node, focus, {}, ctx, false)).toEqual({ b: {} });
});
