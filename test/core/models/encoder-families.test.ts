// The encoder families without a reference fixture, proved by equivalence with bert-tiny (which
// is proved against transformers): the same network written as RoBERTa, XLM-RoBERTa (positions
// from padding_idx + 1) and DistilBERT (its names, no token types) gives the same hidden states —
// exactly where only names and offsets change, within 1e-5 where folding the type-0 row into the
// positions reorders the additions.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, UnsupportedArchitectureError } from '../../../src/core/errors.js'
import { type EncoderModel, loadEncoder } from '../../../src/core/runtime/encoder.js'
import { removeTempDirs } from '../../helpers/cli.js'
import {
  asDistilBert,
  asRoberta,
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  writeEncoderFolder,
} from '../../helpers/encoder-variants.js'
import { maxAbsDiff, readJson } from '../../helpers/fixtures.js'

const g = readJson<{ input_ids: number[][]; attention_mask: number[][] }>(path.join(BERT_TINY, 'golden.json'))
const inputs = g.input_ids.map((ids, b) => ({ ids: ids.filter((_, t) => g.attention_mask[b][t] === 1) }))
const models: EncoderModel[] = []
const load = (dir: string) => {
  const m = loadEncoder(dir, { threads: 2 })
  models.push(m)
  return m
}
afterAll(() => {
  for (const m of models) m.dispose()
  removeTempDirs()
})

async function bertHidden(): Promise<Float32Array[]> {
  return load(BERT_TINY).forward(inputs, 'hidden')
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  )
}

describe('encoder families by equivalence with bert-tiny', () => {
  for (const modelType of ['roberta', 'xlm-roberta'] as const) {
    it(`${modelType}: shifted positions give bert's hidden states exactly`, async () => {
      const { config, tensors } = asRoberta(modelType, 1, false)
      const m = load(writeEncoderFolder(config, tensors))
      expect(m.config.positionOffset).toBe(2)
      expect(m.maxLength).toBe(128)
      const want = await bertHidden()
      const got = await m.forward(inputs, 'hidden')
      got.forEach((h, b) => {
        expect(sameBits(h, want[b]), `input ${b}`).toBe(true)
      })
    })

    it(`${modelType}: type_vocab_size 1 with the type-0 row folded into the positions, within 1e-5`, async () => {
      const { config, tensors } = asRoberta(modelType, 3, true)
      const m = load(writeEncoderFolder(config, tensors))
      const want = await bertHidden()
      const got = await m.forward(inputs, 'hidden')
      got.forEach((h, b) => {
        expect(maxAbsDiff(h, want[b]), `input ${b}`).toBeLessThanOrEqual(1e-5)
      })
    })
  }

  it('distilbert: renamed tensors, no token types, within 1e-5', async () => {
    const { config, tensors } = asDistilBert()
    const m = load(writeEncoderFolder(config, tensors))
    expect(m.config.typeVocabSize).toBe(0)
    const want = await bertHidden()
    const got = await m.forward(inputs, 'hidden')
    got.forEach((h, b) => {
      expect(maxAbsDiff(h, want[b]), `input ${b}`).toBeLessThanOrEqual(1e-5)
    })
  })

  it('the pooler is dense → tanh on [CLS]; DistilBERT has none', async () => {
    const bert = load(BERT_TINY)
    const [pooled] = await bert.forward([inputs[0]], 'pooler', 'first')
    const [cls] = await bert.forward([inputs[0]], 'hidden', 'first')
    const t = bertTinyTensors()
    const W = t.get('bert.pooler.dense.weight')!.data
    const bias = t.get('bert.pooler.dense.bias')!.data
    const want = Float64Array.from({ length: 64 }, (_, o) => {
      let s = bias[o]
      for (let i = 0; i < 64; i++) s += W[o * 64 + i] * cls[i]
      return Math.tanh(s)
    })
    expect(maxAbsDiff(pooled, want)).toBeLessThanOrEqual(1e-5)
    const { config, tensors } = asDistilBert()
    const distil = load(writeEncoderFolder(config, tensors))
    await expect(distil.forward([inputs[0]], 'pooler', 'first')).rejects.toThrow(/no pooler/)
  })
})

describe('encoder configs', () => {
  it('an unsupported model_type names itself and the supported ones', () => {
    const dir = writeEncoderFolder({ ...bertTinyConfig(), model_type: 'electra' }, bertTinyTensors())
    expect(() => loadEncoder(dir)).toThrow(UnsupportedArchitectureError)
    expect(() => loadEncoder(dir)).toThrow(
      'unsupported architecture "electra" (supported: llama, mistral, qwen2, gpt2, bert, roberta, xlm-roberta, distilbert)',
    )
  })

  it('relative position embeddings and causal BERTs are refused by field', () => {
    for (const [edit, message] of [
      [
        { position_embedding_type: 'relative_key' },
        '"position_embedding_type" "relative_key" is not supported',
      ],
      [{ is_decoder: true }, '"is_decoder": true'],
    ] as const) {
      const dir = writeEncoderFolder({ ...bertTinyConfig(), ...edit }, bertTinyTensors())
      expect(() => loadEncoder(dir)).toThrow(ConfigError)
      expect(() => loadEncoder(dir)).toThrow(message)
    }
  })

  it('a decoder folder is refused as an encoder', () => {
    expect(() => loadEncoder(path.join(BERT_TINY, '..', 'llama-tiny'))).toThrow(
      /is a text generator, not an encoder/,
    )
  })
})
