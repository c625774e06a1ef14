// Quantized GGUF export (q8_0, q4_0): tensor types and metadata as llama.cpp writes them, each
// quantized tensor's bytes equal to quantizing the F32 export's tensor (so the Q/K permutation and
// Conv1D transpose happen before quantization), F16 fallback for rows that are not whole blocks;
// then llama.cpp (node-llama-cpp) runs the files and @huggingface/gguf parses them.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ExportGgufResult, exportGguf } from '../../../src/core/export/to-gguf.js'
import { GGML_TYPES, type GgufFile, openGguf } from '../../../src/core/formats/gguf.js'
import { quantizeRows } from '../../../src/core/quant/block-quant.js'
import { type GoldenLM, golden, readJson } from '../../helpers/fixtures.js'
import { hf, llamaGreedy, type NlcLlama, nlc, openLlama } from '../../helpers/gguf-peers.js'

if (!nlc) console.warn('node-llama-cpp is not installed: skipping the llama.cpp checks of quantized export')
if (!hf) console.warn('@huggingface/gguf is not installed: skipping its parse of quantized export')

const FIXTURES = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny']
const QTYPES = ['q8_0', 'q4_0'] as const
type QType = (typeof QTYPES)[number]
type DType = QType | 'f32' | 'f16'

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-quant-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

const exports = new Map<string, { file: string; result: ExportGgufResult; gguf: GgufFile }>()
function exported(fixture: string, dtype: DType) {
  const key = `${fixture}-${dtype}`
  let e = exports.get(key)
  if (!e) {
    const file = path.join(tmp, `${key}.gguf`)
    const result = exportGguf(golden(fixture), file, { dtype })
    e = { file, result, gguf: openGguf(file) }
    exports.set(key, e)
  }
  return e
}

/**
 * The type kiln (following llama.cpp) gives a tensor in a quantized file: position embeddings stay
 * F32; a Q4_0 file's head (output, or token_embd when tied) is Q8_0 at these 64-wide rows (Q6_K
 * needs whole 256-element super-blocks).
 */
function expectedType(name: string, shape: number[], dtype: QType, tied: boolean): string {
  if (shape.length < 2 || name.endsWith('_norm.weight') || name === 'position_embd.weight') return 'F32'
  if (shape[shape.length - 1] % 32 !== 0) return 'F16'
  const head = name === 'output.weight' || (tied && name === 'token_embd.weight')
  if (dtype === 'q4_0' && head) return 'Q8_0'
  return dtype.toUpperCase()
}

describe('quantized GGUF export', () => {
  for (const fixture of FIXTURES) {
    for (const dtype of QTYPES) {
      it(`${fixture} ${dtype}: types, metadata, and bytes equal to quantizing the F32 export`, () => {
        const { gguf: q, result } = exported(fixture, dtype)
        const { gguf: f32 } = exported(fixture, 'f32')
        const { gguf: f16 } = exported(fixture, 'f16')
        expect(q.metadata.get('general.file_type')).toEqual({ type: 'u32', value: dtype === 'q8_0' ? 7 : 2 })
        expect(q.metadata.get('general.quantization_version')).toEqual({ type: 'u32', value: 2 })
        expect([...q.tensors.keys()]).toEqual([...f32.tensors.keys()])
        const fallbacks: string[] = []
        let quantized = 0
        for (const [name, t] of q.tensors) {
          const ref = f32.tensors.get(name)!
          expect(t.shape, name).toEqual(ref.shape)
          const want = expectedType(name, t.shape, dtype, !q.tensors.has('output.weight'))
          expect(t.type, name).toBe(want)
          if (want === 'F32') {
            expect(Buffer.compare(t.data, ref.data), name).toBe(0)
          } else if (want === 'F16') {
            fallbacks.push(name)
            expect(Buffer.compare(t.data, f16.tensors.get(name)!.data), name).toBe(0)
          } else {
            quantized++
            const cols = t.shape[t.shape.length - 1]
            const values = new Float32Array(ref.data.slice().buffer)
            const bytes = quantizeRows(want.toLowerCase() as QType, values, values.length / cols, cols)
            expect(Buffer.compare(t.data, bytes), name).toBe(0)
          }
        }
        expect(quantized).toBeGreaterThan(0)
        // llama-tiny's down_proj rows are 176 = 5.5 blocks: F16, with a warning naming each.
        if (fixture === 'llama-tiny') expect(fallbacks.length).toBeGreaterThan(0)
        for (const name of fallbacks) {
          expect(result.warnings.some((w) => w.startsWith(`${name}:`) && w.includes('F16'))).toBe(true)
        }
        expect(result.warnings.filter((w) => w.includes('written as F16')).length).toBe(fallbacks.length)
      })
    }
  }

  it('q4_0 files are smaller than q8_0, which are smaller than f16', () => {
    const size = (d: DType) => exported('qwen2-tiny', d).result.bytes
    expect(size('q4_0')).toBeLessThan(size('q8_0'))
    expect(size('q8_0')).toBeLessThan(size('f16'))
  })
})

interface Agreement {
  fixture: string
  dtype: QType
  agree: number[]
  total: number
}
const report: Agreement[] = []

describe.skipIf(!nlc)('llama.cpp (node-llama-cpp) runs the quantized exports', () => {
  let llama: NlcLlama
  beforeAll(async () => {
    llama = await openLlama()
  })
  afterAll(async () => {
    await llama?.dispose()
    if (report.length === 0) return
    console.log(
      [
        '| fixture | dtype | greedy agreement per prompt |',
        '| --- | --- | --- |',
        ...report.map(
          (r) => `| ${r.fixture} | ${r.dtype} | ${r.agree.map((a) => `${a}/${r.total}`).join(', ')} |`,
        ),
      ].join('\n'),
    )
  })

  for (const fixture of FIXTURES) {
    for (const dtype of QTYPES) {
      it(`${fixture} ${dtype}: loads and greedy-decodes the golden prompts`, async () => {
        const g = readJson<GoldenLM>(path.join(golden(fixture), 'golden.json'))
        const model = await llama.loadModel({ modelPath: exported(fixture, dtype).file })
        const agree: number[] = []
        try {
          for (const { input_ids, greedy_new_ids } of g.single) {
            const { got, agree: k } = await llamaGreedy(model, input_ids, greedy_new_ids)
            expect(got.length).toBeGreaterThan(0)
            agree.push(k)
          }
        } finally {
          await model.dispose()
        }
        report.push({ fixture, dtype, agree, total: g.single[0].greedy_new_ids.length })
        // Measured (llama.cpp 3.21.1 via node-llama-cpp, 24 tokens per prompt): q8_0 agrees for 23–24
        // tokens on every fixture; q4_0 agrees fully on qwen2/gpt2 but only 7 and 0 on llama-tiny,
        // whose random weights leave near-tied logits that 4-bit weights flip. So only q8_0's
        // agreement is asserted, with margin; q4_0 must load and decode.
        if (dtype === 'q8_0') for (const a of agree) expect(a).toBeGreaterThanOrEqual(4)
      })
    }
  }
})

describe.skipIf(!hf)('@huggingface/gguf parses the quantized exports', () => {
  it('same tensors, types, offsets and metadata as kiln reads', async () => {
    for (const fixture of FIXTURES) {
      for (const dtype of QTYPES) {
        const { file, gguf: ours } = exported(fixture, dtype)
        const theirs = await hf!.gguf(file, { allowLocalFile: true })
        expect(Number(theirs.tensorDataOffset)).toBe(ours.dataOffset)
        expect(theirs.tensorInfos.map((t) => t.name)).toEqual([...ours.tensors.keys()])
        for (const t of theirs.tensorInfos) {
          const o = ours.tensors.get(t.name)!
          expect(t.shape.map(Number)).toEqual(o.dims)
          expect(t.dtype).toBe(GGML_TYPES[o.type].id)
          expect(Number(t.offset)).toBe(o.offset)
        }
        expect(theirs.metadata['general.file_type']).toBe(dtype === 'q8_0' ? 7 : 2)
        expect(theirs.metadata['general.quantization_version']).toBe(2)
      }
    }
  })
})
