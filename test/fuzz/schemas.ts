// Random JSON schemas for the json-schema and server-bodies targets: every keyword kiln enforces,
// keywords it refuses, refs (inside the schema, dangling, cyclic), edge counts, enum and const values.
import fc from 'fast-check'
import { EDGE_INTS, type Json, smallJson } from './mutate.js'

const KEYWORDS = [
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  '$ref',
  '$defs',
  'definitions',
  'title',
  'description',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'not',
  'if',
  'prefixItems',
  'uniqueItems',
  'patternProperties',
  'default',
  'examples',
  '$schema',
  '$id',
]
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']
const count = fc.oneof(
  fc.nat(8),
  fc.constantFrom(...EDGE_INTS),
  fc.double(),
  fc.constant('3' as unknown as number),
)
const ref = fc.constantFrom(
  '#',
  '#/$defs/a',
  '#/$defs/b',
  '#/definitions/a',
  '#/properties/x',
  '#/properties/x/items',
  '#/anyOf/0',
  '#/$defs/missing',
  '#/..',
  'http://example.com/s.json',
  '#/$defs/a~1b',
  '#/$defs/~0',
  'a',
  '',
)

export const { schema: randomSchema } = fc.letrec<{ schema: Json }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Json>(true, false, {}, { type: 'string' }, { type: 'integer' }, { type: 'null' }),
    // Refs that lead back to themselves with or without a value in between.
    fc.constantFrom<Json>(
      { $ref: '#' },
      { anyOf: [{ $ref: '#' }] },
      { allOf: [{ $ref: '#' }] },
      { $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' },
      { $defs: { a: { anyOf: [{ $ref: '#/$defs/b' }] }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' },
      { type: 'array', items: { $ref: '#' } },
      { type: 'object', properties: { a: { $ref: '#' } } },
    ),
    fc
      .dictionary(
        fc.constantFrom(...KEYWORDS),
        fc.oneof(
          fc.constantFrom<Json>(...TYPES),
          fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: 4 }) as fc.Arbitrary<Json>,
          fc.dictionary(
            fc.oneof(fc.constantFrom('x', 'y', 'a', ''), fc.string({ maxLength: 4 })),
            tie('schema'),
            {
              maxKeys: 4,
            },
          ),
          fc.array(tie('schema'), { maxLength: 4 }),
          fc.array(fc.constantFrom('x', 'y', 'z', 'a'), { maxLength: 4 }) as fc.Arbitrary<Json>,
          tie('schema'),
          count,
          ref,
          smallJson,
          fc.array(smallJson, { maxLength: 6 }),
        ),
        { maxKeys: 5 },
      )
      .map((s) => s as Json),
  ),
}))
