// HF folder → GGUF export: llama.cpp names, shapes, layouts (Q/K permutation, Conv1D transpose),
// dtypes, metadata and tokenizer keys, checked by reading the file back; and the bad inputs.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormatError, UnsupportedArchitectureError, UsageError } from '../../../src/core/errors.js'
import { tokenizerMetadata } from '../../../src/core/export/gguf-tokenizer.js'
import { type ExportGgufEvent, exportGguf, llama3RopeFactors } from '../../../src/core/export/to-gguf.js'
import { f32BitsToBf16, f32BitsToF16 } from '../../../src/core/formats/float.js'
import { type GgufFile, type GgufValue, openGguf } from '../../../src/core/formats/gguf.js'
import { openCheckpoint, type TensorView, toFloat32 } from '../../../src/core/formats/safetensors.js'
import { loadModelConfig, ropeInvFreq } from '../../../src/core/models/config.js'
import { golden } from '../../helpers/fixtures.js'

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-export-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

const cache = new Map<string, GgufFile>()
/** Exports a fixture once per dtype and opens the result. */
function exported(fixture: string, dtype: 'f32' | 'f16' | 'bf16'): GgufFile {
  const key = `${fixture}-${dtype}`
  let g = cache.get(key)
  if (!g) {
    const out = path.join(tmp, `${key}.gguf`)
    exportGguf(golden(fixture), out, { dtype })
    g = openGguf(out)
    cache.set(key, g)
  }
  return g
}

const meta = (g: GgufFile, key: string): GgufValue['value'] | undefined => g.metadata.get(key)?.value

function f32Of(data: Uint8Array): Float32Array {
  return new Float32Array(data.slice().buffer)
}

/** llama.cpp's permute, written as numpy: w.reshape(heads, 2, HS/2, cols).swapaxes(1, 2). */
function permuteRows(w: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const hs = rows / heads
  const out = new Float32Array(w.length)
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < hs / 2; i++) {
        const from = (h * hs + j * (hs / 2) + i) * cols
        const to = (h * hs + i * 2 + j) * cols
        out.set(w.subarray(from, from + cols), to)
      }
  return out
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]
  return out
}

const FIXTURES = ['llama-tiny', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']

describe('exported fixtures read back', () => {
  for (const fixture of FIXTURES) {
    it(`${fixture}: metadata, names, shapes and values`, () => {
      const config = loadModelConfig(golden(fixture))
      const g = exported(fixture, 'f32')
      const arch = config.architecture === 'mistral' ? 'llama' : config.architecture
      expect(g.version).toBe(3)
      expect(meta(g, 'general.architecture')).toBe(arch)
      expect(meta(g, 'general.name')).toBe(fixture)
      expect(meta(g, 'general.alignment')).toBe(32)
      expect(meta(g, 'general.file_type')).toBe(0)
      expect(meta(g, `${arch}.context_length`)).toBe(config.maxPositions)
      expect(meta(g, `${arch}.embedding_length`)).toBe(config.hiddenSize)
      expect(meta(g, `${arch}.block_count`)).toBe(config.numLayers)
      expect(meta(g, `${arch}.feed_forward_length`)).toBe(config.intermediateSize)
      expect(meta(g, `${arch}.attention.head_count`)).toBe(config.numHeads)
      if (arch === 'gpt2') {
        expect(meta(g, 'gpt2.attention.layer_norm_epsilon')).toBe(Math.fround(config.norm.eps))
      } else {
        expect(meta(g, `${arch}.attention.head_count_kv`)).toBe(config.numKvHeads)
        expect(meta(g, `${arch}.rope.dimension_count`)).toBe(config.headDim)
        expect(meta(g, `${arch}.rope.freq_base`)).toBe(Math.fround(config.rope!.theta))
        expect(meta(g, `${arch}.attention.layer_norm_rms_epsilon`)).toBe(Math.fround(config.norm.eps))
      }
      expect(g.metadata.get(`${arch}.context_length`)!.type).toBe('u32')

      // Every tensor: llama.cpp name, F32 here, values equal to the HF tensor after the layout change.
      const hf = openCheckpoint(golden(fixture))
      const names = [...g.tensors.keys()]
      expect(names[0]).toBe('token_embd.weight')
      expect(names.some((n) => n.startsWith('output') && !n.startsWith('output_norm'))).toBe(
        !config.tieWordEmbeddings,
      )
      for (const t of g.tensors.values()) {
        expect(t.type).toBe('F32')
        expect(t.offset % 32).toBe(0)
        expect(t.dims).toEqual([...t.shape].reverse())
      }
      const check = (
        ggufName: string,
        hfName: string,
        layout?: (w: Float32Array, v: TensorView) => Float32Array,
      ) => {
        const v = hf.get(hfName)!
        expect(v, hfName).toBeDefined()
        const t = g.tensors.get(ggufName)!
        expect(t, ggufName).toBeDefined()
        const w = toFloat32(v)
        expect(f32Of(t.data)).toEqual(layout ? layout(w, v) : w)
      }
      if (arch === 'gpt2') {
        check('position_embd.weight', 'transformer.wpe.weight')
        for (const [g2, h2] of [
          ['attn_qkv', 'attn.c_attn'],
          ['attn_output', 'attn.c_proj'],
          ['ffn_up', 'mlp.c_fc'],
          ['ffn_down', 'mlp.c_proj'],
        ]) {
          check(`blk.1.${g2}.weight`, `transformer.h.1.${h2}.weight`, (w, v) =>
            transpose(w, v.shape[0], v.shape[1]),
          )
          expect(g.tensors.get(`blk.1.${g2}.weight`)!.shape).toEqual(
            [...hf.get(`transformer.h.1.${h2}.weight`)!.shape].reverse(),
          )
          check(`blk.1.${g2}.bias`, `transformer.h.1.${h2}.bias`)
        }
        check('output_norm.bias', 'transformer.ln_f.bias')
        expect([...g.tensors.keys()].some((n) => n.includes('attn.bias') || n.includes('masked'))).toBe(false)
        expect(g.tensors.size).toBe(4 + 12 * config.numLayers)
        return
      }
      check('token_embd.weight', 'model.embed_tokens.weight')
      check('output_norm.weight', 'model.norm.weight')
      check('blk.1.attn_norm.weight', 'model.layers.1.input_layernorm.weight')
      check('blk.1.ffn_norm.weight', 'model.layers.1.post_attention_layernorm.weight')
      check('blk.1.attn_v.weight', 'model.layers.1.self_attn.v_proj.weight')
      check('blk.1.attn_output.weight', 'model.layers.1.self_attn.o_proj.weight')
      check('blk.1.ffn_gate.weight', 'model.layers.1.mlp.gate_proj.weight')
      check('blk.1.ffn_up.weight', 'model.layers.1.mlp.up_proj.weight')
      check('blk.1.ffn_down.weight', 'model.layers.1.mlp.down_proj.weight')
      const C = config.hiddenSize
      const rows = (heads: number) => heads * config.headDim
      if (arch === 'llama') {
        check('blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight', (w) =>
          permuteRows(w, config.numHeads, rows(config.numHeads), C),
        )
        check('blk.0.attn_k.weight', 'model.layers.0.self_attn.k_proj.weight', (w) =>
          permuteRows(w, config.numKvHeads, rows(config.numKvHeads), C),
        )
      } else {
        // qwen2 keeps transformers' rotate-half layout (llama.cpp runs it with NEOX rope).
        check('blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight')
        check('blk.0.attn_k.weight', 'model.layers.0.self_attn.k_proj.weight')
        check('blk.0.attn_q.bias', 'model.layers.0.self_attn.q_proj.bias')
        check('blk.0.attn_k.bias', 'model.layers.0.self_attn.k_proj.bias')
        check('blk.0.attn_v.bias', 'model.layers.0.self_attn.v_proj.bias')
      }
      if (!config.tieWordEmbeddings) check('output.weight', 'lm_head.weight')
    })
  }

  it('writes F16 and BF16 weights rounded to nearest even, and keeps 1-D tensors F32', () => {
    const hf = openCheckpoint(golden('llama-tiny'))
    for (const [dtype, round, fileType] of [
      ['f16', f32BitsToF16, 1],
      ['bf16', f32BitsToBf16, 32],
    ] as const) {
      const g = exported('llama-tiny', dtype)
      expect(meta(g, 'general.file_type')).toBe(fileType)
      const t = g.tensors.get('blk.0.ffn_up.weight')!
      expect(t.type).toBe(dtype.toUpperCase())
      const src = new Uint32Array(toFloat32(hf.get('model.layers.0.mlp.up_proj.weight')!).buffer)
      const got = new Uint16Array(t.data.slice().buffer)
      expect(got.length).toBe(src.length)
      for (let i = 0; i < src.length; i++)
        if (got[i] !== round(src[i])) expect([i, got[i]]).toEqual([i, round(src[i])])
      expect(g.tensors.get('blk.0.attn_norm.weight')!.type).toBe('F32')
      expect(g.tensors.get('output_norm.weight')!.type).toBe('F32')
      expect(g.tensors.get('token_embd.weight')!.type).toBe(dtype.toUpperCase())
    }
    // A BF16 checkpoint exports to F32 exactly and to BF16 unchanged.
    const bf = path.join(tmp, 'bf16-src.gguf')
    exportGguf(golden('llama-tiny-bf16'), bf, { dtype: 'bf16' })
    const src = openCheckpoint(golden('llama-tiny-bf16')).get('model.layers.0.mlp.up_proj.weight')!
    expect(
      Buffer.from(openGguf(bf).tensors.get('blk.0.ffn_up.weight')!.data).equals(Buffer.from(src.data)),
    ).toBe(true)
  })

  it('llama3 rope scaling: rope_freqs.weight holds the factors transformers divides by', () => {
    const config = loadModelConfig(golden('llama3-tiny'))
    const g = exported('llama3-tiny', 'f16')
    const t = g.tensors.get('rope_freqs.weight')!
    expect(t.type).toBe('F32')
    expect(t.shape).toEqual([config.headDim / 2])
    const factors = f32Of(t.data)
    expect(factors).toEqual(llama3RopeFactors(config))
    const plain = ropeInvFreq({ theta: config.rope!.theta, type: 'default' }, config.headDim)
    const scaled = ropeInvFreq(config.rope!, config.headDim)
    for (let i = 0; i < factors.length; i++) expect(plain[i] / factors[i]).toBeCloseTo(scaled[i], 6)
    expect(factors[0]).toBe(1)
    expect(factors[factors.length - 1]).toBe(config.rope!.factor)
  })

  it('tokenizer metadata: model, pre-tokenizer, tokens, types, merges, special ids', () => {
    const expected: Record<
      string,
      { model: string; pre: string; addBos: boolean; bos?: number; eos: number }
    > = {
      'llama-tiny': { model: 'llama', pre: 'default', addBos: true, bos: 1, eos: 2 },
      'llama3-tiny': { model: 'gpt2', pre: 'llama-bpe', addBos: true, bos: 0, eos: 1 },
      'qwen2-tiny': { model: 'gpt2', pre: 'qwen2', addBos: false, eos: 2 },
      'gpt2-tiny': { model: 'gpt2', pre: 'gpt-2', addBos: false, bos: 0, eos: 0 },
    }
    for (const fixture of FIXTURES) {
      const g = exported(fixture, 'f32')
      const e = expected[fixture]
      const tj = JSON.parse(readFileSync(path.join(golden(fixture), 'tokenizer.json'), 'utf8'))
      const config = loadModelConfig(golden(fixture))
      expect(meta(g, 'tokenizer.ggml.model'), fixture).toBe(e.model)
      expect(meta(g, 'tokenizer.ggml.pre'), fixture).toBe(e.pre)
      expect(meta(g, 'tokenizer.ggml.add_bos_token'), fixture).toBe(e.addBos)
      expect(meta(g, 'tokenizer.ggml.bos_token_id'), fixture).toBe(e.bos)
      expect(meta(g, 'tokenizer.ggml.eos_token_id'), fixture).toBe(e.eos)
      const tokens = meta(g, 'tokenizer.ggml.tokens') as string[]
      expect(tokens.length).toBe(config.vocabSize)
      for (const [text, id] of Object.entries(tj.model.vocab as Record<string, number>))
        expect(tokens[id]).toBe(text)
      const types = meta(g, 'tokenizer.ggml.token_type') as Int32Array
      expect(g.metadata.get('tokenizer.ggml.token_type')).toMatchObject({ itemType: 'i32' })
      for (const t of tj.added_tokens) expect(types[t.id]).toBe(t.special ? 3 : 4)
      const merges = meta(g, 'tokenizer.ggml.merges') as string[]
      expect(merges.length).toBe(tj.model.merges.length)
      expect(merges[0]).toBe(tj.model.merges[0].join(' '))
      if (e.model === 'llama') {
        expect(types[tokens.indexOf('<0x0A>')]).toBe(6)
        expect(types[tokens.indexOf('▁t')]).toBe(1)
        expect(meta(g, 'tokenizer.ggml.add_space_prefix')).toBe(true)
        expect(meta(g, 'tokenizer.ggml.unknown_token_id')).toBe(0)
        const scores = meta(g, 'tokenizer.ggml.scores') as Float32Array
        // The first merge's token outranks every later one.
        const first = tokens.indexOf(merges[0].replace(' ', ''))
        const last = tokens.indexOf(merges[merges.length - 1].replace(' ', ''))
        expect(scores[first]).toBeGreaterThan(scores[last])
      } else {
        expect(g.metadata.has('tokenizer.ggml.scores')).toBe(false)
      }
      const template = existsSync(path.join(golden(fixture), 'chat_template.jinja'))
      expect(g.metadata.has('tokenizer.chat_template'), fixture).toBe(template)
    }
    expect(meta(exported('qwen2-tiny', 'f32'), 'tokenizer.ggml.padding_token_id')).toBe(0)
  })

  it('pads a tokenizer smaller than the model vocab with [PAD] tokens', () => {
    const config = loadModelConfig(golden('gpt2-tiny'))
    const t = tokenizerMetadata(golden('gpt2-tiny'), { ...config, vocabSize: config.vocabSize + 3 })
    expect(t.padded).toBe(3)
    const tokens = t.entries.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as string[]
    const types = t.entries.find(([k]) => k === 'tokenizer.ggml.token_type')![1].value as Int32Array
    expect(tokens.slice(-3)).toEqual([
      `[PAD${config.vocabSize}]`,
      `[PAD${config.vocabSize + 1}]`,
      `[PAD${config.vocabSize + 2}]`,
    ])
    expect([...types.slice(-3)]).toEqual([5, 5, 5])
    expect(() => tokenizerMetadata(golden('gpt2-tiny'), { ...config, vocabSize: 100 })).toThrow(
      /has id \d+, but config.json's vocab_size is 100/,
    )
  })

  it('reports progress', () => {
    const events: ExportGgufEvent[] = []
    const out = path.join(tmp, 'progress.gguf')
    const r = exportGguf(golden('qwen2-tiny'), out, { dtype: 'f16', name: 'custom' }, (e) => events.push(e))
    expect(events[0]).toMatchObject({ type: 'start', tensors: r.tensors })
    expect(events.filter((e) => e.type === 'tensor').length).toBe(r.tensors)
    expect(events.at(-1)).toEqual({ type: 'done', path: out, bytes: r.bytes })
    expect(readFileSync(out).length).toBe(r.bytes)
    expect(meta(openGguf(out), 'general.name')).toBe('custom')
  })
})

describe('bad inputs', () => {
  it('refuses an unsupported architecture', () => {
    const out = path.join(tmp, 'bert.gguf')
    expect(() => exportGguf(golden('bert-tiny'), out, { dtype: 'f32' })).toThrow(UnsupportedArchitectureError)
    expect(existsSync(out)).toBe(false)
  })

  it('refuses an existing output unless forced', () => {
    const dir = mkdtempSync(path.join(tmp, 'exists-'))
    const out = path.join(dir, 'm.gguf')
    writeFileSync(out, 'precious')
    expect(() => exportGguf(golden('gpt2-tiny'), out, { dtype: 'f32' })).toThrow(UsageError)
    expect(readFileSync(out, 'utf8')).toBe('precious')
    exportGguf(golden('gpt2-tiny'), out, { dtype: 'f32', force: true })
    expect(meta(openGguf(out), 'general.architecture')).toBe('gpt2')
    expect(readdirSync(dir)).toEqual(['m.gguf'])
  })

  it('refuses an unknown dtype', () => {
    expect(() => exportGguf(golden('gpt2-tiny'), path.join(tmp, 'x.gguf'), { dtype: 'q4' as 'f32' })).toThrow(
      UsageError,
    )
  })

  it('leaves no file and no temporary file when the export fails', () => {
    // (A failure in the middle of the tensor data is covered by the writer's tests in gguf.test.ts.)
    const src = mkdtempSync(path.join(tmp, 'broken-src-'))
    cpSync(golden('llama-tiny'), src, { recursive: true })
    const file = path.join(src, 'model.safetensors')
    const buf = readFileSync(file)
    const n = Number(buf.readBigUInt64LE(0))
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'))
    header['lm_head.weight'].dtype = 'I32' // same size, not a float type
    let json = Buffer.from(JSON.stringify(header))
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)])
    const prefix = Buffer.alloc(8)
    prefix.writeBigUInt64LE(BigInt(json.length))
    writeFileSync(file, Buffer.concat([prefix, json, buf.subarray(8 + n)]))
    const dir = mkdtempSync(path.join(tmp, 'broken-out-'))
    expect(() => exportGguf(src, path.join(dir, 'm.gguf'), { dtype: 'f16' })).toThrow(FormatError)
    expect(readdirSync(dir)).toEqual([])

    // Missing tensors are named.
    const cfg = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8'))
    writeFileSync(path.join(src, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }))
    cpSync(path.join(golden('llama-tiny'), 'model.safetensors'), file)
    expect(() => exportGguf(src, path.join(dir, 'm.gguf'), { dtype: 'f16' })).toThrow(
      /blk\.2\.attn_norm\.weight/,
    )
    expect(readdirSync(dir)).toEqual([])
  })

  it('needs tokenizer.json', () => {
    const src = mkdtempSync(path.join(tmp, 'no-tok-'))
    cpSync(golden('gpt2-tiny'), src, { recursive: true })
    rmSync(path.join(src, 'tokenizer.json'))
    expect(() => exportGguf(src, path.join(src, 'm.gguf'), { dtype: 'f32' })).toThrow(
      /tokenizer.json: not found/,
    )
  })
})
