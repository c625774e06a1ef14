// The differential check shared by the differential*.test.ts files: kiln against the Rust
// `tokenizers` package on the same tokenizer.json, for one input — the full encoding (ids, tokens,
// type ids, masks, offsets, sequence and word ids), encode()'s ids, and decoding both ways.
// Any difference fails; truncation errors must happen on both sides.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { expect } from 'vitest'
import { type EncodingOptions, Tokenizer } from '../../../src/core/tokenizer/index.js'
import { tokenizerDir } from './fixtures.js'
import { RustTokenizer, rustEncode } from './reference.js'
import { ADVERSARIAL, anyText } from './texts.js'

/** Property runs per fixture; KILN_FUZZ_RUNS raises it for a longer hunt. */
export const RUNS = Number(process.env.KILN_FUZZ_RUNS ?? 300)

export interface Pair {
  kiln: Tokenizer
  rust: RustTokenizer
}

export function loadPair(name: string): Pair {
  const json = readFileSync(join(tokenizerDir(name), 'tokenizer.json'), 'utf8')
  return { kiln: Tokenizer.fromJSON(JSON.parse(json), {}), rust: RustTokenizer.fromString(json) }
}

async function settle<T>(f: () => T | Promise<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await f() }
  } catch (e) {
    return { error: (e as Error).message }
  }
}

export async function checkOne({ kiln, rust }: Pair, text: string, opts: EncodingOptions): Promise<void> {
  const label = JSON.stringify({ text, ...opts })
  const theirs = await settle(() => rustEncode(rust, text, opts))
  const ours = await settle(() => kiln.encodeWithOffsets(text, opts))
  if (theirs.error !== undefined) {
    expect(ours.error, `${label}: the Rust crate fails with ${theirs.error}`).toBeDefined()
    return
  }
  expect(ours.error, label).toBeUndefined()
  expect(ours.value, label).toEqual(theirs.value)
  const ids = theirs.value!.ids
  if (opts.pair === undefined && opts.maxLength === undefined) {
    expect(kiln.encode(text, { addSpecialTokens: opts.addSpecialTokens }), label).toEqual(ids)
  }
  const decoder = rust.getDecoder()
  if (decoder)
    expect(kiln.tokensToString(theirs.value!.tokens), `${label} tokensToString`).toBe(
      decoder.decode(theirs.value!.tokens),
    )
  for (const skip of [false, true]) {
    expect(kiln.decode(ids, { skipSpecialTokens: skip }), `${label} decode skip=${skip}`).toBe(
      await rust.decode(ids, skip),
    )
  }
}

const optionsArb = (added: { single: number; pair: number }) =>
  fc
    .record({
      pair: fc.option(anyText, { nil: undefined }),
      addSpecialTokens: fc.boolean(),
      // Budgets from "special tokens only" upward (below that the Rust crate's usize underflows).
      slack: fc.option(fc.integer({ min: 0, max: 24 }), { nil: undefined }),
      truncation: fc.constantFrom('longest_first' as const, 'only_first' as const, 'only_second' as const),
    })
    .map(({ pair, addSpecialTokens, slack, truncation }): EncodingOptions => {
      const base = addSpecialTokens ? (pair === undefined ? added.single : added.pair) : 0
      return { pair, addSpecialTokens, truncation, maxLength: slack === undefined ? undefined : base + slack }
    })

/** Special tokens the post-processor adds (from the Rust side, which reports them as its mask). */
async function addedCounts(rust: RustTokenizer): Promise<{ single: number; pair: number }> {
  rust.disableTruncation()
  const count = async (pair: string | null) =>
    (await rust.encode('', pair, { addSpecialTokens: true })).getSpecialTokensMask().length
  return { single: await count(null), pair: await count('') }
}

/** The adversarial fragments one by one and together, then random texts, pairs and truncations. */
export async function fuzzFixture(name: string, runs = RUNS): Promise<void> {
  const pair = loadPair(name)
  for (const text of [...ADVERSARIAL, ADVERSARIAL.join(' ')]) {
    await checkOne(pair, text, {})
    await checkOne(pair, text, { pair: text, maxLength: 40 })
  }
  const added = await addedCounts(pair.rust)
  await fc.assert(
    fc.asyncProperty(anyText, optionsArb(added), async (text, opts) => checkOne(pair, text, opts)),
    { numRuns: runs, seed: Number(process.env.KILN_FUZZ_SEED ?? 20260622) },
  )
}
