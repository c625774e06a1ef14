// Fuzz target json-schema: compileResponseFormat over random and mutated JSON schemas (every keyword
// kiln enforces, refs and cycles, deep nesting, edge counts, keywords it refuses) must return a
// grammar or throw a UsageError; over a compiled grammar, byte walks through the matcher (advance,
// canEnd, isComplete, dedupe, stateKey) and a few constrained-decoding steps over a real vocabulary
// (createConstraint: allowed / accept) must never throw, and a state stays small. Pure JavaScript:
// in-process.
import fc from 'fast-check'
import { compileResponseFormat, createConstraint } from '../../src/core/constrain/index.js'
import {
  advance,
  canEnd,
  dedupe,
  initialState,
  isComplete,
  type MatchState,
  stateKey,
} from '../../src/core/constrain/json-matcher.js'
import { UsageError } from '../../src/core/errors.js'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { golden } from '../helpers/fixtures.js'
import {
  caseText,
  FuzzFailure,
  fuzzTarget,
  jsonCodec,
  kiln,
  MULTILINE_MESSAGE,
  STACK_OVERFLOW,
} from './harness.js'
import { type Json, mutatedJson } from './mutate.js'
import { randomSchema } from './schemas.js'

interface Case {
  schema: Json
  /** Raw bytes fed to the matcher one by one (it restarts when a byte is refused). */
  bytes: number[]
  /** Choices of a walk that only takes bytes the matcher accepts. */
  guided: number[]
  /** Choices of allowed tokens for constrained-decoding steps. */
  tokens: number[]
}

const seeds: Json[] = [
  {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 8 },
      age: { type: 'integer' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
      kind: { enum: ['a', 'b', 1, null] },
      nested: {
        type: 'object',
        properties: { x: { type: 'number' } },
        required: ['x'],
        additionalProperties: false,
      },
    },
    required: ['name', 'age'],
  },
  {
    $defs: {
      node: {
        type: 'object',
        properties: {
          value: { type: 'integer' },
          next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] },
        },
      },
    },
    $ref: '#/$defs/node',
  },
  { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#' } }] },
  {
    type: 'array',
    items: { oneOf: [{ const: { a: [1, 2] } }, { type: 'boolean' }] },
    minItems: 1,
    maxItems: 4,
  },
  { type: ['string', 'null'], maxLength: 3 },
  { type: 'object', additionalProperties: { type: 'number' } },
  { allOf: [{ type: 'object', properties: { id: { const: 'x' } } }] },
]

const walkByte = fc.oneof(
  fc.constantFrom(...Buffer.from('{}[]:,"\\ \n\t-+.eE0123456789abcdefnrtulsxyz/é')),
  fc.nat(255),
)

const arbitrary: fc.Arbitrary<Case> = fc.record({
  schema: fc.oneof({ weight: 2, arbitrary: randomSchema }, { weight: 2, arbitrary: mutatedJson(seeds) }),
  bytes: fc.array(walkByte, { maxLength: 200 }),
  guided: fc.array(fc.nat(), { maxLength: 80 }),
  tokens: fc.array(fc.nat(), { maxLength: 8 }),
})

const ALPHABET = [...new Set(Buffer.from('{}[]:,"\\ \n-+.E0123456789abcdefnrtulsxyz/é'))]
// A byte-level vocabulary (gpt2-style) for the constrained-decoding steps.
const tok = Tokenizer.fromFolder(golden('tok-bytelevel'))
const eos = [tok.vocabSize - 1]
/** The matcher keeps at most 32 alternatives (MAX_ALTERNATIVES); allow the one it is adding. */
const MAX_STATE = 33

/** One matcher call: any exception (even a KilnError) is a failure; so is a state that grows unbounded. */
function step<T>(what: string, fn: () => T): T {
  let out: T
  try {
    out = fn()
  } catch (e) {
    throw new FuzzFailure(
      `${what} threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : String(e)}`,
      'exception',
    )
  }
  if (Array.isArray(out) && out.length > MAX_STATE)
    throw new FuzzFailure(`${what} gave a state of ${out.length} alternatives`, 'answer')
  return out
}

fuzzTarget<Case>({
  target: 'json-schema',
  arbitrary,
  caseMs: 5_000,
  ciMs: 6_000,
  corpus: jsonCodec<Case>(),
  known: [STACK_OVERFLOW, MULTILINE_MESSAGE],
  describeCase: (c) => caseText(c.schema),
  run(c) {
    const format = { type: 'json_schema' as const, schema: c.schema }
    const compiled = kiln(() => compileResponseFormat(format))
    if (!compiled.ok) {
      if (!(compiled.error instanceof UsageError))
        throw new FuzzFailure(
          `compileResponseFormat threw ${compiled.error.constructor.name}, not a UsageError`,
          'exception',
        )
      return 'refused'
    }
    const grammar = compiled.value!
    // Raw bytes.
    let s: MatchState = step('initialState', () => initialState(grammar))
    for (const b of c.bytes) {
      const next = step('advance', () => advance(s, b))
      step('canEnd', () => canEnd(next))
      step('isComplete', () => isComplete(next))
      s = next.length ? step('dedupe', () => dedupe(next)) : step('initialState', () => initialState(grammar))
    }
    // A walk that only takes accepted bytes.
    s = initialState(grammar)
    for (const choice of c.guided) {
      if (isComplete(s)) break
      const options: MatchState[] = []
      for (const b of ALPHABET) {
        const next = step('advance', () => advance(s, b))
        if (next.length) options.push(next)
      }
      if (options.length === 0) break
      s = step('dedupe', () => dedupe(options[choice % options.length]))
      step('stateKey', () => stateKey(s))
    }
    // Constrained decoding over a real vocabulary.
    if (c.tokens.length === 0) return 'compiled'
    const constraint = step('createConstraint', () => createConstraint(format, tok, eos))!
    for (const choice of c.tokens) {
      if (constraint.complete) break
      const mask = step('allowed', () => constraint.allowed())
      if (!mask) break
      const ids: number[] = []
      for (let w = 0; w < mask.length && ids.length < 4096; w++)
        for (let bit = 0; bit < 32; bit++) if (mask[w] & (1 << bit)) ids.push(w * 32 + bit)
      if (ids.length === 0) break
      step('accept', () => constraint.accept(ids[choice % ids.length]))
    }
    return 'compiled and decoded'
  },
})
