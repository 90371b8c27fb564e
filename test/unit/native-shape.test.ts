// A format's record shape is read off its JSON Schema (src/native/mapping/shape.ts): the schema is the one list
// of the format's fields that from-fhir.json may write.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shapeOfSchema } from '../../src/native/mapping/shape.ts';

const MAPPINGS = join(import.meta.dirname, '../../mappings');
const schemaOf = (format: string): unknown => JSON.parse(readFileSync(join(MAPPINGS, format, 'schema.json'), 'utf8'));

test('objects name their fields, arrays hold one element shape, leaves name their type, $refs are followed', () => {
  const schema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      count: { type: 'integer' },
      sender: { $ref: '#/$defs/party' },
      items: { type: 'array', items: { type: 'object', properties: { code: { $ref: '#/$defs/code' } } } },
    },
    $defs: { code: { type: 'string', pattern: '^[A-Z]$' }, party: { type: 'object', properties: { ura: { $ref: '#/$defs/code' } } } },
  };
  expect(shapeOfSchema(schema, 'x.json')).toEqual({ id: 'string', count: 'integer', sender: { ura: 'string' }, items: [{ code: 'string' }] });
});

test('a $ref the shape cannot follow, or a field without one type, fails at load naming the file and the field', () => {
  expect(() => shapeOfSchema({ type: 'object', properties: { a: { $ref: 'other.json#/x' } } }, 'x.json')).toThrow('x.json: (root).a: $ref other.json#/x is not a definition of this schema the shape can follow');
  expect(() => shapeOfSchema({ type: 'object', properties: { a: { $ref: '#/$defs/a' } }, $defs: { a: { $ref: '#/$defs/a' } } }, 'x.json')).toThrow(/\$ref #\/\$defs\/a is not a definition/);
  expect(() => shapeOfSchema({ type: 'object', properties: { a: { type: ['string', 'null'] } } }, 'x.json')).toThrow('x.json: (root).a: a field needs one JSON type for the record shape');
});

test.each(['nts', 'ambulance', 'vvt'])('the %s shape holds every field of its schema, nested ones too', (format) => {
  const shape = shapeOfSchema(schemaOf(format), format) as Record<string, unknown>;
  const schema = schemaOf(format) as { properties: Record<string, unknown> };
  expect(Object.keys(shape)).toEqual(Object.keys(schema.properties));
});

test('the nts shape reaches into definitions and arrays', () => {
  const shape = shapeOfSchema(schemaOf('nts'), 'nts') as { hap: unknown; patient: { adres: unknown }; triage: { criteria: unknown } };
  expect(shape.hap).toEqual({ naam: 'string', agb: 'string', ura: 'string' });
  expect(shape.patient.adres).toEqual({ straat: 'string', huisnummer: 'string', toevoeging: 'string', postcode: 'string', plaats: 'string' });
  expect(shape.triage.criteria).toEqual([{ code: 'string', vraag: 'string', antwoord: 'string' }]);
});
