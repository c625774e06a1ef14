// The Hugging Face ↔ GGUF tensor-name table (src/core/models/gguf-names.ts): every pair maps both
// ways, and the exporter and the GGUF reader both follow it (export a golden folder, read it back:
// the same Hugging Face names).
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { openGguf } from '../../../src/core/formats/gguf.js'
import { openCheckpoint } from '../../../src/core/formats/safetensors.js'
import { type Architecture, loadModelConfig } from '../../../src/core/models/config.js'
import {
  GGUF_TENSOR_NAMES,
  ggufNameOfHf,
  hfNameOfGguf,
  requiredGgufNames,
} from '../../../src/core/models/gguf-names.js'
import { ggufWeightViews } from '../../../src/core/models/gguf-weights.js'
import { golden } from '../../helpers/fixtures.js'

const ARCHS = Object.keys(GGUF_TENSOR_NAMES) as Architecture[]
const at = (template: string, layer: number) => template.replace('{i}', String(layer))

describe('the name table', () => {
  for (const arch of ARCHS) {
    it(`${arch}: every pair maps both ways, at any layer`, () => {
      for (const pair of GGUF_TENSOR_NAMES[arch]) {
        for (const layer of [0, 7, 31]) {
          const hf = at(pair.hf, layer)
          const gguf = at(pair.gguf, layer)
          expect(ggufNameOfHf(arch, hf)).toEqual({ gguf, pair })
          expect(hfNameOfGguf(arch, gguf)).toBe(hf)
          if (arch === 'gpt2') expect(ggufNameOfHf(arch, `transformer.${hf}`)).toEqual({ gguf, pair })
        }
      }
    })

    it(`${arch}: no name stands in two pairs`, () => {
      const pairs = GGUF_TENSOR_NAMES[arch]
      expect(new Set(pairs.map((p) => p.hf)).size).toBe(pairs.length)
      expect(new Set(pairs.map((p) => p.gguf)).size).toBe(pairs.length)
      for (const p of pairs) expect(p.hf.includes('{i}')).toBe(p.gguf.includes('{i}'))
    })
  }

  it('knows buffers from unknown tensors, and leaves computed GGUF tensors unnamed', () => {
    expect(ggufNameOfHf('llama', 'model.layers.3.self_attn.rotary_emb.inv_freq')).toBe('buffer')
    expect(ggufNameOfHf('gpt2', 'transformer.h.0.attn.masked_bias')).toBe('buffer')
    expect(ggufNameOfHf('gpt2', 'h.1.attn.bias')).toBe('buffer')
    expect(ggufNameOfHf('qwen2', 'model.layers.0.mlp.experts.0.weight')).toBeUndefined()
    expect(ggufNameOfHf('llama', 'wte.weight')).toBeUndefined()
    expect(hfNameOfGguf('llama', 'rope_freqs.weight')).toBeUndefined()
    expect(hfNameOfGguf('gpt2', 'blk.0.attn_q.weight')).toBeUndefined()
  })

  it('lists what llama.cpp requires, the head only when untied', () => {
    const untied = requiredGgufNames('llama', 2, false)
    expect(untied.slice(0, 3)).toEqual(['token_embd.weight', 'output_norm.weight', 'output.weight'])
    expect(untied).toHaveLength(3 + 2 * 9)
    expect(untied).toContain('blk.1.ffn_down.weight')
    expect(requiredGgufNames('llama', 2, true)).not.toContain('output.weight')
    const gpt2 = requiredGgufNames('gpt2', 1, true)
    expect(gpt2).toContain('position_embd.weight')
    expect(gpt2).toContain('blk.0.attn_qkv.bias')
    expect(gpt2).not.toContain('output.weight')
  })
})

describe('exporter and reader agree through the table', () => {
  let tmp: string
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-names-'))
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  for (const fixture of ['llama-tiny', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']) {
    it(`${fixture}: exported and read back under the checkpoint's own names`, () => {
      const config = loadModelConfig(golden(fixture))
      const arch = config.architecture
      const out = path.join(tmp, `${fixture}.gguf`)
      exportGguf(golden(fixture), out, { dtype: 'f32' })
      const file = openGguf(out)

      // The checkpoint's weights, as the table names them on the HF side (GPT-2 without "transformer.").
      const tied = arch === 'gpt2' || config.tieWordEmbeddings
      const want: string[] = []
      for (const name of openCheckpoint(golden(fixture)).keys()) {
        const named = ggufNameOfHf(arch, name)
        if (named === 'buffer' || (tied && named?.gguf === 'output.weight')) continue
        expect(named, name).toBeDefined()
        want.push(arch === 'gpt2' ? name.replace(/^transformer\./, '') : name)
      }
      const read = ggufWeightViews(file, arch)
      expect([...read.keys()].sort()).toEqual(want.sort())
      for (const t of file.tensors.values()) {
        if (t.name !== 'rope_freqs.weight') expect(read.get(hfNameOfGguf(arch, t.name)!)?.data).toBe(t.data)
      }
      for (const name of requiredGgufNames(arch, config.numLayers, tied))
        expect(file.tensors.has(name)).toBe(true)
    })
  }
})
