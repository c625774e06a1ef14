// The byte matcher against Ajv (the JSON-schema validator Fastify uses) as the judge: every text the
// matcher lets through to an end parses and validates, and valid documents, compact or
// pretty-printed, are let through.
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { compileResponseFormat, type ResponseFormat } from '../../../src/core/constrain/index.js'
import {
  advance,
  canEnd,
  initialState,
  isComplete,
  type MatchState,
} from '../../../src/core/constrain/json-matcher.js'
import { Rng } from '../../../src/core/runtime/rng.js'

const utf8 = new TextEncoder()

function accepts(format: ResponseFormat, text: string): boolean {
  let s: MatchState = initialState(compileResponseFormat(format)!)
  for (const b of utf8.encode(text)) {
    s = advance(s, b)
    if (s.length === 0) return false
  }
  return canEnd(s)
}

// Bytes a random walk picks from: JSON's punctuation, digits, letters, a two-byte character.
const ALPHABET = utf8.encode('{}[]:,"\\ \n-+.E0123456789abcdefghijklmnopqrstuvwxyzé/')

/** A random text the matcher accepts to an end, or undefined when the walk gave up. */
function randomWalk(format: ResponseFormat, rng: Rng, maxBytes = 160): Uint8Array | undefined {
  let s: MatchState = initialState(compileResponseFormat(format)!)
  const out: number[] = []
  while (out.length < maxBytes) {
    if (isComplete(s) || (canEnd(s) && rng.uniform() < 0.1)) return Uint8Array.from(out)
    const options: [number, MatchState][] = []
    for (const b of ALPHABET) {
      const next = advance(s, b)
      if (next.length) options.push([b, next])
    }
    if (options.length === 0 && canEnd(s)) return Uint8Array.from(out)
    if (options.length === 0) throw new Error(`dead end after ${JSON.stringify(Buffer.from(out).toString())}`)
    // Prefer closing brackets as the text grows, so that walks finish.
    const closing = options.filter(([b]) => b === 0x7d || b === 0x5d || b === 0x22)
    const pool = out.length > maxBytes / 2 && closing.length ? closing : options
    const [b, next] = pool[Math.floor(rng.uniform() * pool.length)]
    out.push(b)
    s = next
  }
  return undefined
}

const schemas: Record<string, unknown> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 8 },
      age: { type: 'integer' },
      email: { type: 'string', format: 'email' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
    },
    required: ['name', 'age'],
    additionalProperties: false,
  },
  union: {
    anyOf: [{ type: 'number' }, { type: 'null' }, { enum: ['red', 'green', 1, 12] }, { type: 'boolean' }],
  },
  nested: {
    type: 'object',
    properties: {
      items: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          properties: { x: { type: 'number' }, y: { type: ['string', 'null'] } },
          required: ['x'],
        },
      },
      meta: { type: 'object', additionalProperties: { type: 'integer' } },
    },
    required: ['items', 'meta'],
  },
  recursive: {
    $defs: {
      node: {
        type: 'object',
        properties: {
          v: { type: 'integer' },
          kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 },
        },
        required: ['v'],
      },
    },
    $ref: '#/$defs/node',
  },
  consts: {
    type: 'object',
    properties: { kind: { const: 'a"b' }, n: { enum: [1, 2.5, [1], { a: null }] } },
    required: ['kind', 'n'],
  },
}

describe('json matcher', () => {
  const ajv = new Ajv({ strict: false })
  for (const [name, schema] of Object.entries(schemas)) {
    it(`lets only valid JSON through to an end: ${name}`, () => {
      const format: ResponseFormat = { type: 'json_schema', schema }
      const validate = ajv.compile(schema as object)
      const rng = new Rng(7)
      let finished = 0
      for (let i = 0; i < 300; i++) {
        const bytes = randomWalk(format, rng)
        if (!bytes) continue
        finished++
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
        const value = JSON.parse(text)
        expect(validate(value), `${text}: ${ajv.errorsText(validate.errors)}`).toBe(true)
      }
      expect(finished).toBeGreaterThan(100)
    })
  }

  it('lets through valid documents, compact and pretty-printed', () => {
    const docs: [string, unknown][] = [
      ['person', { name: 'Ann', age: 31, tags: ['a', 'b'] }],
      ['person', { name: 'B\u00e9\u00e9 \ud83d\ude00', age: -0, email: 'x@y.z' }],
      ['union', 12],
      ['union', 1.5e-7],
      ['union', 'green'],
      ['union', null],
      ['nested', { items: [{ x: 1, y: null }, { x: -2.25 }], meta: { a: 1, 'b"c': 2 } }],
      ['recursive', { v: 1, kids: [{ v: 2, kids: [{ v: 3 }] }, { v: 4 }] }],
      ['consts', { kind: 'a"b', n: 2.5 }],
    ]
    for (const [name, doc] of docs) {
      const format: ResponseFormat = { type: 'json_schema', schema: schemas[name] }
      expect(accepts(format, JSON.stringify(doc)), JSON.stringify(doc)).toBe(true)
      expect(accepts(format, JSON.stringify(doc, null, 2)), JSON.stringify(doc, null, 2)).toBe(true)
    }
    // enum and const values are matched as JSON.stringify writes them.
    const consts: ResponseFormat = { type: 'json_schema', schema: schemas.consts }
    expect(accepts(consts, '{"kind": "a\\"b", "n": {"a":null}}')).toBe(true)
    expect(accepts(consts, '{"kind": "a\\"b", "n": {"a": null}}')).toBe(false)
  })

  it('refuses what breaks the schema or JSON', () => {
    const person: ResponseFormat = { type: 'json_schema', schema: schemas.person }
    for (const text of [
      '{"age": 3}', // name is required
      '{"name": "", "age": 3}', // minLength 1
      '{"name": "123456789", "age": 3}', // maxLength 8
      '{"name": "a", "age": 3.5}', // integer
      '{"name": "a", "age": 3, "x": 1}', // no other keys
      '{"name": "a", "age": 03}',
      '{"name": "a\u0001", "age": 3}',
      '{"name": "a", "age": 3,}',
      '{"name": "a", "age": 3, "tags": ["a", "b", "c", "d"]}',
    ])
      expect(accepts(person, text), text).toBe(false)
    const json: ResponseFormat = { type: 'json_object' }
    for (const text of ['[1]', '"a"', '{"a": tru}', '{"a": 1} {', `{${' '.repeat(40)}}`])
      expect(accepts(json, text), text).toBe(false)
    expect(accepts(json, '{"a": [1, {"b": "c"}], "d": -1.5e+3, "e": true}')).toBe(true)
  })

  it('refuses schema keywords it cannot enforce, naming where', () => {
    const compile = (schema: unknown) => () => compileResponseFormat({ type: 'json_schema', schema })
    expect(compile({ type: 'object', properties: { a: { type: 'string', pattern: '^a' } } })).toThrow(
      /the schema at \/properties\/a uses "pattern"/,
    )
    expect(compile({ type: 'integer', minimum: 0 })).toThrow(/"minimum"/)
    expect(compile({ $ref: '#/$defs/missing' })).toThrow(/points nowhere/)
    expect(compile({ type: 'strin' })).toThrow(/types are object, array/)
    expect(compile(false)).toThrow(/no value can match/)
    // Found by the fuzz target: a cycle of references that never reaches a value, keys with
    // control characters in the message, enum values nested too deep for JSON.stringify.
    expect(compile({ $ref: '#' })).toThrow(/matches no JSON value/)
    expect(compile({ anyOf: [{ $ref: '#' }, { $ref: '#/anyOf/0' }] })).toThrow(/matches no JSON value/)
    expect(
      compileResponseFormat({ type: 'json_schema', schema: { anyOf: [{ $ref: '#' }, { type: 'null' }] } }),
    ).toBeDefined()
    expect(compile({ properties: { 'a\nb': { type: 'x' } } })).toThrow(
      /^[^\n]*properties\/a\\u000ab\/type has "x"/,
    )
    let deep: unknown = 1
    for (let i = 0; i < 20_000; i++) deep = [deep]
    expect(compile({ enum: [deep] })).toThrow(/nests too deeply/)
  })
})
