// `tokenizer.ggml.pre` picks the split regexes of a gpt2 (byte-level BPE) vocabulary: a small
// vocabulary whose merges cross the places where the pre-tokenizers differ shows which one ran.
import { describe, expect, it } from 'vitest'
import { type GgufValue, gguf } from '../../src/core/formats/gguf.js'
import { toByteLevel } from '../../src/core/tokenizer/byte-level.js'
import { ggufTokenizer } from '../../src/core/tokenizer/from-gguf.js'
import { metadataGguf } from './helpers.js'

const ASCII = Array.from({ length: 128 }, (_, b) => toByteLevel(String.fromCharCode(b)))
const MERGED = ['12', '123', '1234', "'S", 'Ġa', 'Ġab']
const TOKENS = [...ASCII, ...MERGED]
const MERGES = ['1 2', '12 3', '123 4', "' S", 'Ġ a', 'Ġa b']

function tokenizer(pre: string | undefined) {
  const file = metadataGguf(`pre-${pre}`, [
    ['general.architecture', gguf.string('gpt2')],
    ['tokenizer.ggml.model', gguf.string('gpt2')],
    ...(pre === undefined ? [] : [['tokenizer.ggml.pre', gguf.string(pre)] as [string, GgufValue]]),
    ['tokenizer.ggml.tokens', gguf.array('string', TOKENS)],
    ['tokenizer.ggml.merges', gguf.array('string', MERGES)],
  ])
  const tok = ggufTokenizer(file)
  return (text: string) => tok.encode(text).map((id) => TOKENS[id])
}

describe('tokenizer.ggml.pre', () => {
  it('gpt-2: digit runs and lower-case contractions only', () => {
    const split = tokenizer('gpt-2')
    expect(split('1234')).toEqual(['1234'])
    expect(split("x'S")).toEqual(['x', "'", 'S'])
    expect(split('x ab')).toEqual(['x', 'Ġab'])
  })

  it('llama-bpe (and its aliases): digits in threes, contractions in any case', () => {
    for (const name of ['llama-bpe', 'llama3', 'llama-v3']) {
      const split = tokenizer(name)
      expect(split('1234')).toEqual(['123', '4'])
      expect(split("x'S")).toEqual(['x', "'S"])
      expect(split('x ab')).toEqual(['x', 'Ġab'])
    }
  })

  it('qwen2: single digits', () => {
    const split = tokenizer('qwen2')
    expect(split('1234')).toEqual(['1', '2', '3', '4'])
    expect(split("x'S")).toEqual(['x', "'S"])
  })

  it("default (or absent): llama.cpp's fallback regexes, digits in threes", () => {
    for (const name of ['default', undefined]) {
      const split = tokenizer(name)
      expect(split('1234')).toEqual(['123', '4'])
      expect(split("x'S")).toEqual(['x', "'", 'S'])
    }
  })
})
