// Exports checked by other GGUF implementations: llama.cpp (through node-llama-cpp, a devDependency)
// loads each fixture's GGUF and must predict the golden greedy tokens and next-token distribution;
// node-llama-cpp's and @huggingface/gguf's parsers must read what kiln's reader reads. Each part is
// skipped, with a message, when its package is not installed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { GGML_TYPES, type GgufFile, openGguf } from '../../../src/core/formats/gguf.js'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { type GoldenLM, golden, readJson } from '../../helpers/fixtures.js'
import { hf, llamaGreedy, type NlcLlama, nlc, openLlama } from '../../helpers/gguf-peers.js'
import { logSoftmax } from '../../helpers/numbers.js'

if (!nlc) console.warn('node-llama-cpp is not installed: skipping the llama.cpp checks of GGUF export')
if (!hf) console.warn('@huggingface/gguf is not installed: skipping its parse of GGUF export')

const FIXTURES = ['llama-tiny', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']
const DTYPES = ['f32', 'f16', 'bf16'] as const
type DType = (typeof DTYPES)[number]

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-llamacpp-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

function exportFixture(fixture: string, dtype: DType): string {
  const out = path.join(tmp, `${fixture}-${dtype}.gguf`)
  if (!existsSync(out)) exportGguf(golden(fixture), out, { dtype })
  return out
}

/** Golden last-row log-probabilities for prompt i: log_softmax(logits.i[T − 1]). */
function goldenLogProbs(fixture: string, i: number): Float64Array {
  const t = openSafetensors(path.join(golden(fixture), 'golden.safetensors')).tensors.get(`logits.${i}`)!
  const [T, V] = t.shape
  return logSoftmax(asFloat32(t).subarray((T - 1) * V, T * V))
}

interface Agreement {
  fixture: string
  dtype: DType
  /** Per prompt: how many of the golden greedy tokens llama.cpp reproduces before diverging. */
  agree: number[]
  total: number
  /** Max |log p − log p_golden| of the next-token distribution after each prompt. */
  maxLogProbDiff: number
}
const report: Agreement[] = []

describe.skipIf(!nlc)('llama.cpp (node-llama-cpp) runs the exports', () => {
  let llama: NlcLlama
  beforeAll(async () => {
    llama = await openLlama()
  })
  afterAll(async () => {
    await llama?.dispose()
    if (report.length === 0) return
    const lines = report.map(
      (r) =>
        `| ${r.fixture} | ${r.dtype} | ${r.agree.map((a) => `${a}/${r.total}`).join(', ')} | ${r.maxLogProbDiff.toExponential(1)} |`,
    )
    console.log(
      [
        '| fixture | dtype | greedy agreement per prompt | max Δ log p |',
        '| --- | --- | --- | --- |',
        ...lines,
      ].join('\n'),
    )
  })

  for (const fixture of FIXTURES) {
    for (const dtype of DTYPES) {
      it(`${fixture} ${dtype}: greedy tokens and next-token distribution match transformers`, async () => {
        const g = readJson<GoldenLM>(path.join(golden(fixture), 'golden.json'))
        const model = await llama.loadModel({ modelPath: exportFixture(fixture, dtype) })
        const agree: number[] = []
        let maxLogProbDiff = 0
        try {
          for (let p = 0; p < g.single.length; p++) {
            const { input_ids, greedy_new_ids } = g.single[p]
            agree.push((await llamaGreedy(model, input_ids, greedy_new_ids)).agree)
            // The full next-token distribution (temperature 1, no truncation) against log_softmax.
            const ref = goldenLogProbs(fixture, p)
            const ctx2 = await model.createContext({ contextSize: 256, threads: 1 })
            try {
              const seq = ctx2.getSequence()
              const options = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 }
              for await (const r of seq.evaluateWithMetadata(input_ids, { probabilities: true }, options)) {
                expect(r.probabilities.size).toBe(ref.length)
                for (const [token, prob] of r.probabilities) {
                  maxLogProbDiff = Math.max(maxLogProbDiff, Math.abs(Math.log(prob) - ref[token]))
                }
                break
              }
            } finally {
              await ctx2.dispose()
            }
          }
        } finally {
          await model.dispose()
        }
        report.push({ fixture, dtype, agree, total: g.single[0].greedy_new_ids.length, maxLogProbDiff })
        // llama.cpp keeps its KV cache in F16, so even F32 weights differ from transformers by ~1e-4
        // in log-probability. A missing Q/K permutation or rope_freqs tensor costs ≥ 1e-3 here.
        if (dtype === 'f32') {
          for (const a of agree) expect(a).toBeGreaterThanOrEqual(16)
          expect(maxLogProbDiff).toBeLessThan(8e-4)
        } else if (dtype === 'f16') {
          expect(maxLogProbDiff).toBeLessThan(2e-3)
        } else {
          expect(maxLogProbDiff).toBeLessThan(1e-2)
        }
      })
    }
  }

  it("node-llama-cpp's GGUF parser reads what kiln's reader reads", async () => {
    for (const fixture of FIXTURES) {
      const file = exportFixture(fixture, 'f16')
      const ours = openGguf(file)
      const theirs = await nlc!.readGgufFileInfo(file, { logWarnings: false })
      expect(theirs.version).toBe(3)
      const general = theirs.metadata.general as Record<string, unknown>
      expect(general.architecture).toBe(ours.metadata.get('general.architecture')!.value)
      expect(theirs.tensorInfo!.map((t) => t.name)).toEqual([...ours.tensors.keys()])
      for (const t of theirs.tensorInfo!) {
        const o = ours.tensors.get(t.name)!
        expect(t.dimensions.map(Number)).toEqual(o.dims)
        expect(t.ggmlType).toBe(GGML_TYPES[o.type].id)
        expect(Number(t.offset)).toBe(o.offset)
      }
    }
  })
})

describe.skipIf(!hf)('@huggingface/gguf parses the exports', () => {
  it('same tensors, offsets and metadata as kiln reads', async () => {
    for (const fixture of FIXTURES) {
      const file = exportFixture(fixture, 'f16')
      const ours: GgufFile = openGguf(file)
      const theirs = await hf!.gguf(file, { allowLocalFile: true })
      expect(Number(theirs.tensorDataOffset)).toBe(ours.dataOffset)
      expect(theirs.tensorInfos.map((t) => t.name)).toEqual([...ours.tensors.keys()])
      for (const t of theirs.tensorInfos) {
        const o = ours.tensors.get(t.name)!
        expect(t.shape.map(Number)).toEqual(o.dims)
        expect(t.dtype).toBe(GGML_TYPES[o.type].id)
        expect(Number(t.offset)).toBe(o.offset)
      }
      for (const [key, v] of ours.metadata) {
        const got = theirs.metadata[key]
        if (v.type === 'array') expect((got as unknown[]).length, key).toBe(v.value.length)
        else if (v.type === 'f32') expect(got, key).toBeCloseTo(v.value, 6)
        else expect(got, key).toBe(v.value)
      }
    }
  })
})
