// The generated fixtures (RoBERTa byte-level BPE with and without add_prefix_space, cased BERT with
// BertProcessing, SentencePiece Unigram in XLM-R, ALBERT and T5 byte-fallback dress) against the
// Rust `tokenizers` package (see differential.ts).

import { describe, it } from 'vitest'
import { fuzzFixture, RUNS } from './differential.js'
import { EXTRA_FIXTURES } from './fixtures.js'

describe('kiln = Rust tokenizers on the generated fixtures', () => {
  for (const name of EXTRA_FIXTURES) {
    it(`${name}: ${RUNS} random inputs`, () => fuzzFixture(name))
  }
})
