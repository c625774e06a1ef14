// config.json normalisation (transformers v4 and v5 names), generation_config.json, and rotary
// inverse frequencies against transformers' float32 arithmetic.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, FormatError, UnsupportedArchitectureError } from '../../../src/core/errors.js'
import { loadModelConfig, parseModelConfig, ropeInvFreq } from '../../../src/core/models/config.js'
import { loadGenerationConfig, parseGenerationConfig } from '../../../src/core/models/generation-config.js'
import { GOLDEN } from '../../helpers/fixtures.js'

const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(GOLDEN, name, 'config.json'), 'utf8')) as Record<string, unknown>

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-config-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function expectError<T>(
  fn: () => unknown,
  type: abstract new (...a: never[]) => T,
  message: string | RegExp,
): void {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(type)
  if (typeof message === 'string') expect((err as Error).message).toContain(message)
  else expect((err as Error).message).toMatch(message)
}

/** A minimal v4-style llama config (as transformers 4.x writes it). */
function llamaV4(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: 'llama',
    vocab_size: 1000,
    hidden_size: 128,
    intermediate_size: 344,
    num_hidden_layers: 3,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    hidden_act: 'silu',
    rope_theta: 500000.0,
    rope_scaling: null,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    ...extra,
  }
}

describe('fixture configs', () => {
  it('llama-tiny (v5 rope_parameters, GQA, untied)', () => {
    const c = loadModelConfig(path.join(GOLDEN, 'llama-tiny'))
    const { raw, ...rest } = c
    expect(rest).toEqual({
      architecture: 'llama',
      vocabSize: 599,
      hiddenSize: 64,
      intermediateSize: 176,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      maxPositions: 256,
      norm: { kind: 'rms', eps: 1e-5 },
      activation: 'silu',
      rope: { theta: 10000, type: 'default' },
      tieWordEmbeddings: false,
      attentionBias: false,
      mlpBias: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      padTokenId: 0,
    })
    expect(raw['transformers_version']).toBe('5.17.0')
  })

  it('llama-tiny-bf16 has the same architecture', () => {
    const a = loadModelConfig(path.join(GOLDEN, 'llama-tiny'))
    const b = loadModelConfig(path.join(GOLDEN, 'llama-tiny-bf16'))
    expect({ ...b, raw: undefined }).toEqual({ ...a, raw: undefined })
  })

  it('llama3-tiny (llama3 rope scaling, tied)', () => {
    const c = loadModelConfig(path.join(GOLDEN, 'llama3-tiny'))
    expect(c.rope).toEqual({
      theta: 500000,
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 64,
    })
    expect(c).toMatchObject({
      numHeads: 8,
      numKvHeads: 2,
      headDim: 8,
      maxPositions: 512,
      tieWordEmbeddings: true,
    })
    expect(c.bosTokenId).toBe(0)
    expect(c.eosTokenIds).toEqual([1])
    expect(c.padTokenId).toBeUndefined()
  })

  it('qwen2-tiny (qkv bias, tied, no BOS, no sliding window)', () => {
    const c = loadModelConfig(path.join(GOLDEN, 'qwen2-tiny'))
    expect(c).toMatchObject({
      architecture: 'qwen2',
      vocabSize: 400,
      hiddenSize: 64,
      intermediateSize: 160,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      norm: { kind: 'rms', eps: 1e-6 },
      rope: { theta: 1e6, type: 'default' },
      tieWordEmbeddings: true,
      attentionBias: true,
      mlpBias: false,
      eosTokenIds: [2],
    })
    expect(c.bosTokenId).toBeUndefined()
  })

  it('gpt2-tiny (learned positions, LayerNorm, gelu_new, tied)', () => {
    const c = loadModelConfig(path.join(GOLDEN, 'gpt2-tiny'))
    const { raw: _raw, ...rest } = c
    expect(rest).toEqual({
      architecture: 'gpt2',
      vocabSize: 384,
      hiddenSize: 64,
      intermediateSize: 256,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      maxPositions: 256,
      norm: { kind: 'layer', eps: 1e-5 },
      activation: 'gelu_tanh',
      tieWordEmbeddings: true,
      attentionBias: true,
      mlpBias: true,
      bosTokenId: 0,
      eosTokenIds: [0],
      padTokenId: undefined,
    })
    expect(c.rope).toBeUndefined()
  })

  it('generation configs', () => {
    for (const name of ['llama-tiny', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']) {
      const dir = path.join(GOLDEN, name)
      const model = loadModelConfig(dir)
      const gen = loadGenerationConfig(dir, model)
      expect(gen.eosTokenIds).toEqual(model.eosTokenIds)
      expect(gen.bosTokenId).toBe(model.bosTokenId)
    }
    expect(
      loadGenerationConfig(path.join(GOLDEN, 'llama-tiny'), loadModelConfig(path.join(GOLDEN, 'llama-tiny'))),
    ).toEqual({
      eosTokenIds: [2],
      bosTokenId: 1,
      padTokenId: 0,
    })
  })
})

describe('transformers v4 names', () => {
  it('llama3-tiny rewritten with v4 names gives the same config', () => {
    const v5 = fixture('llama3-tiny')
    const { rope_parameters: params, ...v4 } = v5
    const { rope_theta, ...scaling } = params as Record<string, unknown>
    const a = parseModelConfig(v5)
    const b = parseModelConfig({ ...v4, rope_theta, rope_scaling: scaling })
    expect({ ...b, raw: undefined }).toEqual({ ...a, raw: undefined })
  })

  it('rope_theta + rope_scaling null', () => {
    const c = parseModelConfig(llamaV4())
    expect(c.rope).toEqual({ theta: 500000, type: 'default' })
    expect(c.headDim).toBe(16)
  })

  it('rope_scaling llama3 (rope_type) and the older "type" key', () => {
    const scaling = {
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    }
    const want = {
      theta: 500000,
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 8192,
    }
    expect(parseModelConfig(llamaV4({ rope_scaling: scaling })).rope).toEqual(want)
    const { rope_type: _t, ...old } = scaling
    expect(parseModelConfig(llamaV4({ rope_scaling: { ...old, type: 'llama3' } })).rope).toEqual(want)
  })

  it('rope_scaling linear', () => {
    const c = parseModelConfig(llamaV4({ rope_scaling: { type: 'linear', factor: 2.0 } }))
    expect(c.rope).toEqual({ theta: 500000, type: 'linear', factor: 2 })
  })

  it('v5 rope_parameters wins over a stale top-level rope_theta', () => {
    const c = parseModelConfig(llamaV4({ rope_parameters: { rope_theta: 1000, rope_type: 'default' } }))
    expect(c.rope?.theta).toBe(1000)
  })

  it('defaults: head_dim, num_key_value_heads, theta, eps, max positions, tie, eos list', () => {
    const json = llamaV4({ eos_token_id: [2, 7, 2] })
    for (const k of [
      'num_key_value_heads',
      'rope_theta',
      'rms_norm_eps',
      'max_position_embeddings',
      'tie_word_embeddings',
    ]) {
      delete json[k]
    }
    const c = parseModelConfig(json)
    expect(c).toMatchObject({ numKvHeads: 8, headDim: 16, maxPositions: 2048, tieWordEmbeddings: false })
    expect(c.norm.eps).toBe(1e-6)
    expect(c.rope).toEqual({ theta: 10000, type: 'default' })
    expect(c.eosTokenIds).toEqual([2, 7])
  })

  it('explicit head_dim need not equal hidden / heads', () => {
    const c = parseModelConfig(llamaV4({ head_dim: 64 }))
    expect(c.headDim).toBe(64)
  })

  it('llama attention_bias and mlp_bias, swish', () => {
    const c = parseModelConfig(llamaV4({ attention_bias: true, mlp_bias: true, hidden_act: 'swish' }))
    expect(c).toMatchObject({ attentionBias: true, mlpBias: true, activation: 'silu' })
  })

  it('mistral: llama-shaped, sliding window ignored when it covers the context', () => {
    const base = { ...llamaV4(), model_type: 'mistral', rope_theta: 1e6 }
    expect(parseModelConfig({ ...base, sliding_window: null })).toMatchObject({
      architecture: 'mistral',
      attentionBias: false,
    })
    expect(parseModelConfig({ ...base, sliding_window: 4096 }).architecture).toBe('mistral')
    expectError(
      () => parseModelConfig({ ...base, sliding_window: 1024 }, 'mistral/config.json'),
      ConfigError,
      'mistral/config.json: sliding-window attention is not supported yet',
    )
  })

  it('qwen2: qkv bias always; sliding window only when enabled', () => {
    const base = { ...llamaV4(), model_type: 'qwen2', sliding_window: 1024, max_window_layers: 28 }
    expect(parseModelConfig({ ...base, use_sliding_window: false }).attentionBias).toBe(true)
    expect(parseModelConfig({ ...base, use_sliding_window: true }).architecture).toBe('qwen2') // 28 ≥ 3 layers
    expectError(
      () => parseModelConfig({ ...base, use_sliding_window: true, max_window_layers: 1 }),
      ConfigError,
      'sliding-window attention is not supported yet',
    )
    expectError(
      () =>
        parseModelConfig({ ...base, layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }),
      ConfigError,
      '"layer_types" has "sliding_attention" layers',
    )
  })

  it('gpt2 defaults and activation names', () => {
    const c = parseModelConfig({
      model_type: 'gpt2',
      vocab_size: 50257,
      n_embd: 768,
      n_layer: 12,
      n_head: 12,
    })
    expect(c).toMatchObject({
      intermediateSize: 3072,
      maxPositions: 1024,
      headDim: 64,
      activation: 'gelu_tanh',
      norm: { kind: 'layer', eps: 1e-5 },
      eosTokenIds: [],
    })
    const g = (act: string) =>
      parseModelConfig({
        model_type: 'gpt2',
        vocab_size: 10,
        n_embd: 8,
        n_layer: 1,
        n_head: 2,
        activation_function: act,
      })
    expect(g('gelu').activation).toBe('gelu')
    expect(g('gelu_pytorch_tanh').activation).toBe('gelu_tanh')
    expectError(() => g('relu'), ConfigError, 'config.json: "activation_function" "relu" is not supported')
  })
})

describe('bad configs', () => {
  it('unknown architecture', () => {
    expectError(
      () => parseModelConfig({ ...llamaV4(), model_type: 't5' }),
      UnsupportedArchitectureError,
      'unsupported architecture "t5" (supported: llama, mistral, qwen2, gpt2, bert, roberta, xlm-roberta, distilbert)',
    )
    expectError(
      () => parseModelConfig({ ...llamaV4(), model_type: 'bert' }),
      UnsupportedArchitectureError,
      '"bert" is an encoder (classification, embeddings, fill-mask, NER), not a text generator',
    )
    expectError(() => parseModelConfig({ vocab_size: 3 }), ConfigError, '"model_type" is missing')
  })

  it('missing and wrongly typed fields name the field and file', () => {
    const missing = llamaV4()
    delete missing['num_attention_heads']
    expectError(
      () => parseModelConfig(missing, 'x/config.json'),
      ConfigError,
      'x/config.json: "num_attention_heads" must be a positive integer up to 1048576, but it is missing',
    )
    const cases: [Record<string, unknown>, string][] = [
      [
        { num_attention_heads: '8' },
        'config.json: "num_attention_heads" must be a positive integer up to 1048576, got "8"',
      ],
      [{ hidden_size: 0 }, '"hidden_size" must be a positive integer up to 1048576, got 0'],
      // Widths are bounded before anything is sized by them (the rotary table is head_dim / 2 floats).
      [{ head_dim: 2 ** 40 }, '"head_dim" must be a positive integer up to 1048576, got 1099511627776'],
      [{ intermediate_size: 2 ** 31 }, '"intermediate_size" must be a positive integer up to 1048576'],
      // A hostile value is shown on one line and cut short, however long or deep.
      [{ hidden_act: 'a\nb' }, '"hidden_act" "a\\nb" is not supported'],
      [
        { vocab_size: [[[[['x'.repeat(1000)]]]]] },
        `"vocab_size" must be a positive integer, got [[[[["${'x'.repeat(74)}…`,
      ],
      [{ vocab_size: 10.5 }, '"vocab_size" must be a positive integer, got 10.5'],
      [{ rms_norm_eps: -1 }, '"rms_norm_eps" must be a positive number'],
      [{ tie_word_embeddings: 'yes' }, '"tie_word_embeddings" must be true or false'],
      [{ eos_token_id: 'eos' }, '"eos_token_id" must be a token id or a list of token ids'],
      [{ eos_token_id: [2, '3'] }, '"eos_token_id" must be a token id or a list of token ids'],
      [{ hidden_act: 'relu' }, '"hidden_act" "relu" is not supported'],
      [{ num_key_value_heads: 3 }, '"num_attention_heads" 8 is not a multiple of "num_key_value_heads" 3'],
      [
        { hidden_size: 100, num_attention_heads: 8 },
        '"hidden_size" 100 is not a multiple of "num_attention_heads" 8',
      ],
      [{ head_dim: 15 }, 'head size 15 must be even'],
      [
        { rope_scaling: { rope_type: 'yarn', factor: 4 } },
        'rope type "yarn" ("rope_scaling.rope_type") is not supported',
      ],
      [
        { rope_scaling: { rope_type: 'llama3', factor: 8 } },
        '"rope_scaling.low_freq_factor" must be a positive number, but it is missing',
      ],
      [
        { rope_scaling: { type: 'linear' } },
        '"rope_scaling.factor" must be a positive number, but it is missing',
      ],
      [{ rope_parameters: { rope_type: 'dynamic', rope_theta: 1 } }, '"rope_parameters.rope_type"'],
      [{ rope_parameters: { rope_theta: 'big' } }, '"rope_parameters.rope_theta" must be a positive number'],
      [{ rope_scaling: 8 }, '"rope_scaling" must be an object'],
    ]
    for (const [patch, message] of cases) {
      expectError(() => parseModelConfig(llamaV4(patch)), ConfigError, message)
    }
    expectError(() => parseModelConfig([1]), ConfigError, 'config.json: must be a JSON object')
  })

  it('config.json missing or not JSON', () => {
    const dir = mkdtempSync(path.join(tmp, 'cfg-'))
    expectError(() => loadModelConfig(dir), FormatError, `${path.join(dir, 'config.json')}: not found`)
    writeFileSync(path.join(dir, 'config.json'), '{"model_type": ')
    expectError(() => loadModelConfig(dir), ConfigError, `${path.join(dir, 'config.json')}: not valid JSON`)
  })
})

describe('generation_config.json', () => {
  const model = parseModelConfig(llamaV4({ eos_token_id: 2, pad_token_id: 0 }))

  it('falls back to the model config when absent', () => {
    const dir = mkdtempSync(path.join(tmp, 'gen-'))
    expect(loadGenerationConfig(dir, model)).toEqual({ eosTokenIds: [2], bosTokenId: 1, padTokenId: 0 })
  })

  it('reads eos lists and sampling settings', () => {
    const dir = mkdtempSync(path.join(tmp, 'gen-'))
    writeFileSync(
      path.join(dir, 'generation_config.json'),
      JSON.stringify({
        bos_token_id: 128000,
        eos_token_id: [128001, 128008, 128009],
        do_sample: true,
        temperature: 0.6,
        top_p: 0.9,
        top_k: 50,
        min_p: null,
        repetition_penalty: 1.1,
        max_new_tokens: 256,
      }),
    )
    expect(loadGenerationConfig(dir, model)).toEqual({
      eosTokenIds: [128001, 128008, 128009],
      bosTokenId: 128000,
      padTokenId: 0,
      doSample: true,
      temperature: 0.6,
      topP: 0.9,
      topK: 50,
      repetitionPenalty: 1.1,
      maxNewTokens: 256,
    })
  })

  it('rejects wrong types', () => {
    expectError(
      () => parseGenerationConfig({ temperature: 'hot' }, model, 'g.json'),
      ConfigError,
      'g.json: "temperature" must be',
    )
    expectError(
      () => parseGenerationConfig({ top_k: 1.5 }, model),
      ConfigError,
      '"top_k" must be an integer ≥ 0',
    )
    expectError(
      () => parseGenerationConfig({ eos_token_id: ['x'] }, model),
      ConfigError,
      '"eos_token_id" must be',
    )
    expectError(
      () => parseGenerationConfig({ do_sample: 1 }, model),
      ConfigError,
      '"do_sample" must be true or false',
    )
  })
})

describe('ropeInvFreq', () => {
  it('default: 1 / theta^(2i/HS) in float32', () => {
    const inv = ropeInvFreq({ theta: 10000, type: 'default' }, 16)
    expect(inv.length).toBe(8)
    for (let i = 0; i < 8; i++)
      expect(inv[i]).toBe(Math.fround(1 / Math.fround(10000 ** Math.fround((2 * i) / 16))))
    expect(inv[0]).toBe(1)
    expect(inv[4]).toBeCloseTo(0.01, 8)
  })

  it('linear divides by the factor', () => {
    const d = ropeInvFreq({ theta: 10000, type: 'default' }, 8)
    const l = ropeInvFreq({ theta: 10000, type: 'linear', factor: 4 }, 8)
    for (let i = 0; i < 4; i++) expect(l[i]).toBe(Math.fround(d[i] / 4))
  })

  it('llama3 for llama3-tiny (θ 5e5, factor 8, low 1, high 4, original 64)', () => {
    const rope = loadModelConfig(path.join(GOLDEN, 'llama3-tiny')).rope!
    const inv = ropeInvFreq(rope, 8)
    // By hand: inv_freq = 5e5^(-i/4) = [1, 0.0376060, 0.00141421, 5.31830e-5]; wavelengths 2π/inv =
    // [6.28, 167.1, 4443, 118143] against low_freq_wavelen 64 / high_freq_wavelen 16: the first is
    // high-frequency (kept), the other three are low-frequency (divided by 8); none is in between.
    const hand = [1, 0.0376060307 / 8, 0.00141421345 / 8, 5.31829573e-5 / 8]
    for (let i = 0; i < 4; i++) expect(inv[i]).toBeCloseTo(hand[i], 9)
    // float32 emulation of transformers' arithmetic (numpy float32, op by op)
    expect(Array.from(inv)).toEqual([1.0, 0.004700753837823868, 0.00017677668074611574, 6.647869668086059e-6])
  })

  it('llama3 with medium frequencies (Llama 3.1 8B: HS 128, original 8192)', () => {
    const rope = {
      theta: 500000,
      type: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 8192,
    }
    const inv = ropeInvFreq(rope, 128)
    // Hand formula in float64.
    let medium = 0
    for (let i = 0; i < 64; i++) {
      const f = 1 / 500000 ** ((2 * i) / 128)
      const wavelen = (2 * Math.PI) / f
      let want: number
      if (wavelen < 8192 / 4) want = f
      else if (wavelen > 8192 / 1) want = f / 8
      else {
        const s = (8192 / wavelen - 1) / (4 - 1)
        want = ((1 - s) * f) / 8 + s * f
        medium++
      }
      expect(Math.abs(inv[i] - want) / want).toBeLessThan(2e-6)
    }
    expect(medium).toBeGreaterThan(3)
    // Bit patterns from a numpy float32 emulation of transformers' _compute_llama3_parameters.
    const bits = new Uint32Array(inv.buffer)
    expect([bits[0], bits[20], bits[29], bits[30], bits[31], bits[32], bits[63]]).toEqual([
      1065353216, 1015523779, 990772486, 984863005, 979408798, 973706706, 883213055,
    ])
  })

  it('rejects odd head sizes', () => {
    expectError(() => ropeInvFreq({ theta: 1e4, type: 'default' }, 7), ConfigError, 'positive even integer')
  })
})
