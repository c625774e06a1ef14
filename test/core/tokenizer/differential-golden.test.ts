// Every golden tok-* fixture against the Rust `tokenizers` package on random Unicode, adversarial
// fragments, pairs and truncation (see differential.ts). KILN_FUZZ_RUNS=5000 for a long hunt.

import { describe, it } from 'vitest'
import { checkOne, fuzzFixture, loadPair, RUNS } from './differential.js'
import { TOKENIZER_FIXTURES } from './fixtures.js'

describe('kiln = Rust tokenizers on the golden fixtures', () => {
  for (const name of TOKENIZER_FIXTURES) {
    it(`${name}: ${RUNS} random inputs`, () => fuzzFixture(name))
  }
})

describe('truncation of long pairs', () => {
  // The crate stops tokenizing a sequence once max_length tokens are out, so longest_first
  // compares these partial lengths when both sequences are long: kiln must do the same.
  const words = (n: number, seed: number) =>
    Array.from(
      { length: n },
      (_, i) => ['hello', 'world', 'tokenizer', 'unbelievable', 'a', '!'][(i * seed) % 6],
    ).join(' ')
  for (const name of ['tok-wordpiece', 'tok-llama3']) {
    it(`${name}: long texts, every strategy, many budgets`, async () => {
      const pair = loadPair(name)
      for (const [a, b] of [
        [words(120, 5), words(90, 7)],
        [words(40, 1), words(300, 5)],
      ]) {
        for (const maxLength of [5, 16, 33, 64, 101, 128, 200]) {
          for (const truncation of ['longest_first', 'only_first', 'only_second'] as const) {
            await checkOne(pair, a, { pair: b, maxLength, truncation })
          }
        }
      }
    })
  }
})
