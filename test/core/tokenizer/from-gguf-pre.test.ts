// `tokenizer.ggml.pre` picks the split regexes of a gpt2 (byte-level BPE) vocabulary: a small
// vocabulary whose merges cross the places where the pre-tokenizers differ shows which one ran.
import { describe, expect, it } from 'vitest'
import { type GgufValue, gguf } from '../../../src/core/formats/gguf.js'
import { toByteLevel } from '../../../src/core/tokenizer/byte-level.js'
import { ggufTokenizer } from '../../../src/core/tokenizer/from-gguf.js'
import { metadataGguf } from '../../helpers/gguf-exports.js'
import { nlc, openLlama } from '../../helpers/gguf-peers.js'

interface VocabModel {
  tokenize(text: string, specialTokens: boolean): readonly number[]
  dispose(): Promise<void>
}

const ASCII = Array.from({ length: 128 }, (_, b) => toByteLevel(String.fromCharCode(b)))
const MERGED = ['12', '123', '1234', "'S", 'Ġa', 'Ġab']
const TOKENS = [...ASCII, ...MERGED]
const MERGES = ['1 2', '12 3', '123 4', "' S", 'Ġ a', 'Ġa b']

/** A vocabulary-only gpt2 GGUF (with the hyperparameters llama.cpp insists on) using `pre`. */
function vocabFile(pre: string | undefined) {
  return metadataGguf(`pre-${pre}`, [
    ['general.architecture', gguf.string('gpt2')],
    ['gpt2.context_length', gguf.u32(64)],
    ['gpt2.embedding_length', gguf.u32(8)],
    ['gpt2.block_count', gguf.u32(1)],
    ['gpt2.feed_forward_length', gguf.u32(32)],
    ['gpt2.attention.head_count', gguf.u32(2)],
    ['gpt2.attention.layer_norm_epsilon', gguf.f32(1e-5)],
    ['tokenizer.ggml.model', gguf.string('gpt2')],
    ...(pre === undefined ? [] : [['tokenizer.ggml.pre', gguf.string(pre)] as [string, GgufValue]]),
    ['tokenizer.ggml.tokens', gguf.array('string', TOKENS)],
    ['tokenizer.ggml.merges', gguf.array('string', MERGES)],
  ])
}

function tokenizer(pre: string | undefined) {
  const tok = ggufTokenizer(vocabFile(pre))
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

  it('smollm: single digits, lower-case contractions', () => {
    const split = tokenizer('smollm')
    expect(split('1234')).toEqual(['1', '2', '3', '4'])
    expect(split("x'S")).toEqual(['x', "'", 'S'])
  })

  it("default (or absent): llama.cpp's fallback regexes, digits in threes", () => {
    for (const name of ['default', undefined]) {
      const split = tokenizer(name)
      expect(split('1234')).toEqual(['123', '4'])
      expect(split("x'S")).toEqual(['x', "'", 'S'])
    }
  })
})

const NAMES = ['gpt-2', 'llama-bpe', 'llama3', 'llama-v3', 'qwen2', 'deepseek-r1-qwen', 'smollm', 'default']
const TEXTS = [
  '1234 12345678 x1y22z333',
  "x'S it's THEY'RE we'Ll",
  'x ab  ab   ab\n\nab\r\n ab\tab ',
  'a,b (ab) [x]+{y}=<z>|~^$ a...b!? #1 @2',
  '  leading, trailing  ',
  '',
]

describe.skipIf(!nlc)('llama.cpp splits as kiln does for every pre-tokenizer name', () => {
  it.each(NAMES)('%s', async (name) => {
    const file = vocabFile(name)
    const tok = ggufTokenizer(file)
    const llama = await openLlama()
    try {
      const load = (llama as unknown as { loadModel(o: object): Promise<VocabModel> }).loadModel
      const model = await load.call(llama, { modelPath: file.path, vocabOnly: true })
      try {
        for (const text of TEXTS) {
          expect(tok.encode(text), JSON.stringify(text)).toEqual([...model.tokenize(text, true)])
        }
      } finally {
        await model.dispose()
      }
    } finally {
      await llama.dispose()
    }
  })
})
