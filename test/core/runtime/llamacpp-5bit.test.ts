// kiln runs the 5-bit GGUF files llama.cpp writes, which kiln itself does not write: Q5_K_M and
// Q5_K_S (Q5_K, with Q6_K where llama.cpp gives more bits), the pure Q5_0 / Q5_1 types, and the
// fallbacks llama.cpp uses when rows are not whole 256-element super-blocks (Qwen2-0.5B's 896):
// Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0. Files come from llama_model_quantize itself
// (test/helpers/llama-quantize.ts) on kiln's F32 exports of random models. Checked per file: the
// tensor types are the ones named; kiln's greedy ids equal llama.cpp's (node-llama-cpp) on the same
// file up to kiln's first near-tie, and their next-token distributions stay close; kiln generate
// -m runs one of them, and kiln quantize re-quantizes one.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { openGguf } from '../../../src/core/formats/gguf.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { runKiln } from '../../helpers/cli.js'
import { type GoldenLM, golden, readJson } from '../../helpers/fixtures.js'
import { type NlcLlama, nlc, openLlama } from '../../helpers/gguf-peers.js'
import { kilnGreedy } from '../../helpers/greedy.js'
import { LLAMA_FTYPE, llamaQuantize, llamaQuantizeUnavailable } from '../../helpers/llama-quantize.js'
import { type Agreement, compareWithLlamaCpp } from '../../helpers/llamacpp-compare.js'
import { type RandomModelSpec, writeRandomModel } from '../../helpers/random-model.js'

const skipReason = llamaQuantizeUnavailable()
if (skipReason) console.warn(`skipping kiln on llama.cpp's 5-bit files: ${skipReason}`)

type Ftype = keyof typeof LLAMA_FTYPE
interface Case {
  spec: RandomModelSpec
  /** Each file type, with the ggml types its tensors must include. */
  files: [Ftype, string[]][]
}

const CASES: Record<string, Case> = {
  // Whole super-blocks: Q5_K throughout, Q6_K on the layers llama.cpp gives more bits.
  'llama-256': {
    spec: {
      fixture: 'llama-tiny',
      hidden: 256,
      intermediate: 768,
      layers: 4,
      heads: 4,
      kvHeads: 2,
      headDim: 64,
      tied: false,
      bias: false,
    },
    files: [
      ['q5_k_m', ['Q5_K', 'Q6_K']],
      ['q5_k_s', ['Q5_K']],
      ['q5_0', ['Q5_0']],
      ['q5_1', ['Q5_1']],
    ],
  },
  // 320 wide, 640 in the MLP: no row is a whole super-block, so the K-quant mixes fall back.
  'qwen2-320': {
    spec: {
      fixture: 'qwen2-tiny',
      hidden: 320,
      intermediate: 640,
      layers: 3,
      heads: 5,
      kvHeads: 1,
      headDim: 64,
      tied: true,
      bias: true,
    },
    files: [
      ['q4_k_m', ['Q5_0', 'Q8_0']],
      ['q5_k_m', ['Q5_1', 'Q8_0']],
    ],
  },
}

/** Top-2 logit gap below which kiln and llama.cpp may pick differently (see llamacpp-quantized.test.ts). */
const NEAR_TIE = 1
/** Bound on |p_llama.cpp − p_kiln| over the next-token distribution after each prompt. */
const PROB_DIFF_BOUND = 0.25
const NEW_TOKENS = 16

let tmp: string
const made = new Map<string, string>()
/** Per file: llama.cpp = kiln greedy tokens per prompt, kiln's tokens before a near-tie, max Δp. */
const agreement: string[] = []
const key = (name: string, ftype: Ftype) => `${name} ${ftype}`

describe.skipIf(skipReason !== undefined)("kiln on llama.cpp's 5-bit files", () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-llamacpp-5bit-'))
    for (const [name, c] of Object.entries(CASES)) {
      const folder = writeRandomModel(path.join(tmp, name), c.spec, name.length * 17 + c.spec.layers)
      const f32 = path.join(tmp, `${name}-f32.gguf`)
      exportGguf(folder, f32, { dtype: 'f32' })
      for (const [ftype] of c.files) {
        const out = path.join(tmp, `${name}-${ftype}.gguf`)
        await llamaQuantize(f32, out, LLAMA_FTYPE[ftype], 2)
        made.set(key(name, ftype), out)
      }
    }
  }, 240_000)

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true })
    if (agreement.length > 0)
      console.log(
        [
          '| file | llama.cpp = kiln greedy | tokens before a near-tie | max Δp |',
          '| --- | --- | --- | --- |',
          ...agreement,
        ].join('\n'),
      )
  })

  for (const [name, c] of Object.entries(CASES))
    for (const [ftype, types] of c.files)
      it(`${name} ${ftype}: holds ${types.join(', ')}`, () => {
        const g = openGguf(made.get(key(name, ftype))!)
        const present = new Set([...g.tensors.values()].map((t) => t.type))
        for (const t of types) expect(present, `${[...present].join(', ')}`).toContain(t)
      })

  it('kiln generate -m runs one', async () => {
    const r = await runKiln(
      ['generate', '-m', made.get(key('qwen2-320', 'q4_k_m'))!, 'Hello', '--max-new-tokens', '4'],
      {
        timeoutMs: 120_000,
      },
    )
    expect(r.status, r.stderr).toBe(0)
  })

  it('kiln quantize re-quantizes one (Q5_K_M → Q8_0) to a file that decodes the same greedy ids', async () => {
    const src = made.get(key('qwen2-320', 'q5_k_m'))!
    const out = path.join(tmp, 'qwen2-320-requant-q8_0.gguf')
    const r = await runKiln(['quantize', src, '--type', 'q8_0', '-o', out, '--no-quality', '--quiet'], {
      timeoutMs: 120_000,
    })
    expect(r.status, r.stderr).toBe(0)
    const types = new Set([...openGguf(out).tensors.values()].map((t) => t.type))
    expect([...types].filter((t) => t.startsWith('Q5'))).toEqual([])
    const ps = readJson<GoldenLM>(path.join(golden('qwen2-tiny'), 'golden.json')).single.map(
      (s) => s.input_ids,
    )
    const [a, b] = [loadModel(src, { threads: 1 }), loadModel(out, { threads: 1 })]
    try {
      expect(await kilnGreedy(b, ps, NEW_TOKENS)).toEqual(await kilnGreedy(a, ps, NEW_TOKENS))
    } finally {
      a.dispose()
      b.dispose()
    }
  })

  describe.skipIf(!nlc)('llama.cpp decodes them as kiln does', () => {
    let llama: NlcLlama
    beforeAll(async () => {
      llama = await openLlama()
    })
    afterAll(async () => {
      await llama?.dispose()
    })

    for (const [name, c] of Object.entries(CASES))
      for (const [ftype] of c.files)
        it(`${name} ${ftype}: greedy ids up to kiln's first near-tie, and next-token distributions`, async () => {
          const file = made.get(key(name, ftype))!
          const kiln = loadModel(file, { threads: 1 })
          const theirs = await llama.loadModel({ modelPath: file })
          let result: Agreement | undefined
          try {
            const ps = readJson<GoldenLM>(path.join(golden(c.spec.fixture), 'golden.json')).single.map(
              (s) => s.input_ids,
            )
            result = await compareWithLlamaCpp(kiln, theirs, ps, NEAR_TIE, NEW_TOKENS)
          } finally {
            if (result)
              agreement.push(
                `| ${name} ${ftype} | ${result.cells.join(', ')} | ${result.sures.join(', ')} | ${result.maxProbDiff.toExponential(1)} |`,
              )
            kiln.dispose()
            await theirs.dispose()
          }
          expect(result.maxProbDiff).toBeLessThan(PROB_DIFF_BOUND)
        })
  })
})
