// Shapes the fixtures do not cover (head counts, head sizes, layer counts, odd widths): the fast
// kernels must agree with the reference kernels on random models written here.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSafetensors } from '../../../src/core/formats/safetensors.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { golden, maxAbs, maxAbsDiff } from '../../helpers/fixtures.js'
import { mulberry32, toBf16, toF16 } from '../../helpers/numbers.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-shapes-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

type Shape = {
  C: number
  L: number
  NH: number
  NKV: number
  HS: number
  F: number
  bias?: boolean
  tied?: boolean
}

function writeLlama(name: string, s: Shape, dtype: 'F32' | 'BF16' | 'F16' = 'F32'): string {
  const dir = path.join(tmp, name)
  const u = mulberry32(s.C * 31 + s.L)
  const r = () => u() - 0.5
  const V = 97
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = []
  const add = (n: string, shape: number[], scale = 0.3, base = 0) => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => base + r() * scale)
    tensors.push({ name: n, dtype: 'F32', shape, data })
  }
  add('model.embed_tokens.weight', [V, s.C], 1)
  for (let l = 0; l < s.L; l++) {
    const p = `model.layers.${l}`
    add(`${p}.input_layernorm.weight`, [s.C], 0.2, 1)
    add(`${p}.self_attn.q_proj.weight`, [s.NH * s.HS, s.C])
    add(`${p}.self_attn.k_proj.weight`, [s.NKV * s.HS, s.C])
    add(`${p}.self_attn.v_proj.weight`, [s.NKV * s.HS, s.C])
    if (s.bias) {
      add(`${p}.self_attn.q_proj.bias`, [s.NH * s.HS])
      add(`${p}.self_attn.k_proj.bias`, [s.NKV * s.HS])
      add(`${p}.self_attn.v_proj.bias`, [s.NKV * s.HS])
    }
    add(`${p}.self_attn.o_proj.weight`, [s.C, s.NH * s.HS])
    add(`${p}.post_attention_layernorm.weight`, [s.C], 0.2, 1)
    add(`${p}.mlp.gate_proj.weight`, [s.F, s.C])
    add(`${p}.mlp.up_proj.weight`, [s.F, s.C])
    add(`${p}.mlp.down_proj.weight`, [s.C, s.F])
  }
  add('model.norm.weight', [s.C], 0.2, 1)
  if (!s.tied) add('lm_head.weight', [V, s.C])
  const cfg = {
    model_type: s.bias ? 'qwen2' : 'llama',
    vocab_size: V,
    hidden_size: s.C,
    intermediate_size: s.F,
    num_hidden_layers: s.L,
    num_attention_heads: s.NH,
    num_key_value_heads: s.NKV,
    head_dim: s.HS,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: !!s.tied,
  }
  writeSafetensorsIn(dir, tensors, dtype)
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg))
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(golden(`gpt2-tiny/${f}`), path.join(dir, f))
  return dir
}

function writeSafetensorsIn(
  dir: string,
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  dtype: string,
) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const conv = tensors.map((t) => {
    if (dtype === 'F32' || t.shape.length === 1) return { ...t, dtype: 'F32' as const }
    const h = new Uint16Array(t.data.length)
    for (let i = 0; i < h.length; i++) h[i] = dtype === 'BF16' ? toBf16(t.data[i]) : toF16(t.data[i])
    return { name: t.name, shape: t.shape, dtype: dtype as 'BF16' | 'F16', data: h }
  })
  writeSafetensors(path.join(dir, 'model.safetensors'), conv)
}

const SHAPES: [string, Shape, ('F32' | 'BF16' | 'F16')?][] = [
  ['mha-odd-width', { C: 45, L: 1, NH: 3, NKV: 3, HS: 10, F: 37 }],
  ['gqa-6-of-2-hs24', { C: 96, L: 3, NH: 6, NKV: 2, HS: 24, F: 130, tied: true }],
  ['mqa-hs64-bias', { C: 128, L: 2, NH: 4, NKV: 1, HS: 64, F: 200, bias: true }],
  ['bf16-weights', { C: 72, L: 2, NH: 4, NKV: 2, HS: 18, F: 99 }, 'BF16'],
  ['f16-weights', { C: 72, L: 2, NH: 4, NKV: 2, HS: 18, F: 99 }, 'F16'],
]

describe('fast kernels equal the reference on shapes beyond the fixtures', () => {
  for (const [name, shape, dtype] of SHAPES) {
    it(name, async () => {
      const dir = writeLlama(name, shape, dtype)
      const ids = Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % 97)
      const fast = loadModel(dir, { threads: 2 })
      const ref = loadModel(dir, { threads: 1, backend: 'ref' })
      try {
        const a = await fast.logits(ids)
        const b = await ref.logits(ids)
        expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(b)))
      } finally {
        fast.dispose()
        ref.dispose()
      }
    })
  }
})

describe('chunked prefill and grouped decode', () => {
  it('logits are bit-identical whatever the chunk size (KV cache reused across chunks)', async () => {
    const dir = writeLlama('chunks', { C: 48, L: 2, NH: 4, NKV: 2, HS: 12, F: 80 })
    const ids = Array.from({ length: 50 }, (_, i) => (i * 13 + 3) % 97)
    const whole = loadModel(dir, { threads: 2 })
    const chunked = loadModel(dir, { threads: 2, chunkSize: 7 })
    try {
      expect(
        Buffer.from((await chunked.logits(ids)).buffer).equals(Buffer.from((await whole.logits(ids)).buffer)),
      ).toBe(true)
    } finally {
      whole.dispose()
      chunked.dispose()
    }
  })

  it('more sequences than rows per step: decode runs in groups, each equal to its single run', async () => {
    const dir = writeLlama('groups', { C: 48, L: 2, NH: 4, NKV: 2, HS: 12, F: 80 })
    const prompts = Array.from({ length: 5 }, (_, p) =>
      Array.from({ length: 3 + p }, (_, i) => (i * 7 + p * 11 + 1) % 97),
    )
    const model = loadModel(dir, { threads: 2, chunkSize: 2 })
    try {
      const run = async (ps: number[][]) => {
        const out: number[][] = ps.map(() => [])
        for await (const ev of model.generateMany(ps, { maxNewTokens: 6, temperature: 0, eosTokenIds: [] }))
          out[ev.seq].push(ev.id)
        return out
      }
      const batched = await run(prompts)
      for (let p = 0; p < prompts.length; p++) expect(batched[p]).toEqual((await run([prompts[p]]))[0])
    } finally {
      model.dispose()
    }
  })
})
