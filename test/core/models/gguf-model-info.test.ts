// ggufModelInfo on the golden model folders exported by kiln's writer: the config equals what
// config.json gives on every field the engine reads (rotary inv_freq included), and the
// generation defaults equal generation_config.json's.
import { describe, expect, it } from 'vitest'
import { type GgufValue, gguf } from '../../../src/core/formats/gguf.js'
import { loadModelConfig, ropeInvFreq } from '../../../src/core/models/config.js'
import { loadGenerationConfig } from '../../../src/core/models/generation-config.js'
import { ggufModelInfo } from '../../../src/core/models/gguf-model-info.js'
import { Tokenizer } from '../../../src/core/tokenizer/tokenizer.js'
import { readJson } from '../../helpers/fixtures.js'
import { EXTRA_TEXTS, metadataGguf, modelDir, modelGguf } from '../../helpers/gguf-exports.js'

const FIXTURES = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny', 'llama3-tiny']

/**
 * The pad id the GGUF carries: config.json's, else tokenizer_config.json's pad_token (the exporter,
 * like llama.cpp's converter, takes the tokenizer's when config.json names none).
 */
function expectedPad(fixture: string, fromConfig: number | undefined): number | undefined {
  if (fromConfig !== undefined) return fromConfig
  const tc = readJson<{ pad_token?: string }>(`${modelDir(fixture)}/tokenizer_config.json`)
  return tc.pad_token === undefined
    ? undefined
    : Tokenizer.fromFolder(modelDir(fixture)).tokenToId(tc.pad_token)
}

describe('ggufModelInfo on exported golden models', () => {
  for (const fixture of FIXTURES) {
    it(`${fixture}: config matches config.json`, () => {
      const want = loadModelConfig(modelDir(fixture))
      const { config } = ggufModelInfo(modelGguf(fixture))
      expect(config.architecture).toBe(want.architecture === 'mistral' ? 'llama' : want.architecture)
      for (const key of [
        'vocabSize',
        'hiddenSize',
        'intermediateSize',
        'numLayers',
        'numHeads',
        'numKvHeads',
        'headDim',
        'maxPositions',
        'activation',
        'tieWordEmbeddings',
        'attentionBias',
        'mlpBias',
        'bosTokenId',
        'eosTokenIds',
      ] as const) {
        expect(config[key], key).toEqual(want[key])
      }
      expect(config.padTokenId).toBe(expectedPad(fixture, want.padTokenId))
      expect(config.norm.kind).toBe(want.norm.kind)
      // GGUF stores the epsilon as f32.
      expect(config.norm.eps).toBe(Math.fround(want.norm.eps))
      expect(config.rope === undefined).toBe(want.rope === undefined)
      if (want.rope) {
        expect(config.rope!.type).toBe(want.rope.type)
        const got = ropeInvFreq(config.rope!, config.headDim)
        const ref = ropeInvFreq(want.rope, want.headDim)
        expect(got.length).toBe(ref.length)
        for (let i = 0; i < ref.length; i++) {
          expect(Math.abs(got[i] - ref[i]), `inv_freq[${i}]`).toBeLessThanOrEqual(1e-7 * Math.abs(ref[i]))
        }
      }
    })

    it(`${fixture}: generation defaults match generation_config.json`, () => {
      const folderConfig = loadModelConfig(modelDir(fixture))
      const want = loadGenerationConfig(modelDir(fixture), folderConfig)
      const { generation } = ggufModelInfo(modelGguf(fixture))
      expect(generation).toEqual({ ...want, padTokenId: expectedPad(fixture, want.padTokenId) })
    })
  }
})

describe('generation defaults beyond generation_config.json', () => {
  /** llama3-tiny's exported metadata with `extra` keys added, without tensors. */
  function withKeys(extra: [string, GgufValue][]) {
    const m = new Map(modelGguf('llama3-tiny').metadata)
    for (const [k, v] of extra) m.set(k, v)
    return ggufModelInfo(metadataGguf('llama3-extra', [...m]))
  }

  it('stops on end-of-turn and end-of-message tokens too, as llama.cpp does', () => {
    const info = withKeys([
      ['tokenizer.ggml.eot_token_id', gguf.u32(2)],
      ['tokenizer.ggml.eom_token_id', gguf.u32(1)],
    ])
    expect(info.generation.eosTokenIds).toEqual([1, 2])
    expect(info.config.eosTokenIds).toEqual([1, 2])
  })

  it("reads the file's recommended sampling settings (general.sampling.*)", () => {
    const info = withKeys([
      ['general.sampling.temp', gguf.f32(0.5)],
      ['general.sampling.top_k', gguf.i32(20)],
      ['general.sampling.top_p', gguf.f32(0.75)],
      ['general.sampling.min_p', gguf.f32(0.125)],
      ['general.sampling.penalty_repeat', gguf.f32(1.25)],
    ])
    expect(info.generation).toEqual({
      eosTokenIds: [1],
      bosTokenId: 0,
      padTokenId: undefined,
      temperature: 0.5,
      topK: 20,
      topP: 0.75,
      minP: 0.125,
      repetitionPenalty: 1.25,
      doSample: true,
    })
  })
})

describe("the repository's default model (models/default) exported to GGUF", () => {
  const info = ggufModelInfo(modelGguf('default'))
  const reference = Tokenizer.fromFolder(modelDir('default'))

  it('has the config of its config.json', () => {
    const want = loadModelConfig(modelDir('default'))
    // EOS: the file carries generation_config.json's stop list (eos + eot), config.json only eos.
    expect({ ...info.config, raw: undefined, norm: undefined, eosTokenIds: undefined }).toEqual({
      ...want,
      raw: undefined,
      norm: undefined,
      eosTokenIds: undefined,
    })
    expect(info.config.eosTokenIds).toEqual([509, 511])
    expect(info.config.norm).toEqual({ kind: 'rms', eps: Math.fround(want.norm.eps) })
  })

  it('encodes, decodes and renders chat prompts as its tokenizer.json does', () => {
    for (const text of [...EXTRA_TEXTS, 'The quick brown fox. <|im_start|>user\nhi<|im_end|>']) {
      const ids = reference.encode(text)
      expect(info.tokenizer.encode(text), JSON.stringify(text)).toEqual(ids)
      expect(info.tokenizer.decode(ids)).toBe(reference.decode(ids))
    }
    const messages = [{ role: 'user', content: 'Hello there' }]
    expect(info.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      reference.applyChatTemplate(messages, { addGenerationPrompt: true }),
    )
  })

  it("carries generation_config.json's stop tokens and sampling settings", () => {
    // eos 509 as tokenizer.ggml.eos_token_id, <|im_end|> (511) as eot_token_id; do_sample with
    // temperature 0.8 as general.sampling.temp. (max_new_tokens has no GGUF key.)
    expect(info.generation.eosTokenIds).toEqual([509, 511])
    expect(info.generation.bosTokenId).toBe(509)
    expect(info.generation.doSample).toBe(true)
    expect(info.generation.temperature).toBeCloseTo(0.8, 6)
  })
})
