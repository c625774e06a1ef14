// llama.cpp's own quantizer as the judge of kiln's. llama_model_quantize (node-llama-cpp's prebuilt
// libllama, driven through python3 ctypes by test/helpers/llama-quantize.py, as `llama-quantize
// IN OUT TYPE` runs it) quantizes kiln's F32 GGUF exports of the golden qwen2/GPT-2 fixtures
// (Q8_0, Q4_0) and of random llama / qwen2 / GPT-2 models whose widths are whole 256-element
// super-blocks (Q4_K_M, Q6_K, Q8_0, Q4_0). Checked, per file:
// - every tensor of llama.cpp's file has the type and the bytes of kiln's own quantization of the
//   same model, both from the folder (exportGguf) and through `kiln quantize F32.gguf`; the
//   metadata is the same too: kiln's type policy is llama.cpp's, tensor by tensor;
// - kiln loads llama.cpp's file (loadModel, and `kiln generate -m`) and decodes it exactly as
//   it decodes its own file (the same logits, bit for bit, when the weights are the same bytes);
// - llama.cpp's greedy ids on its file agree with kiln's on the same file up to kiln's first
//   near-tie, and their next-token distributions after each prompt stay close.
// Each part skips, with a message, without python3 or node-llama-cpp's libraries.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportGguf, type GgufExportDType } from '../../../src/core/export/to-gguf.js'
import { type GgufFile, openGguf } from '../../../src/core/formats/gguf.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { jsonOut, runKiln } from '../../helpers/cli.js'
import { type GoldenLM, golden, readJson } from '../../helpers/fixtures.js'
import { type NlcLlama, nlc, openLlama } from '../../helpers/gguf-peers.js'
import { kilnGreedy } from '../../helpers/greedy.js'
import { LLAMA_FTYPE, llamaQuantize, llamaQuantizeUnavailable } from '../../helpers/llama-quantize.js'
import { type Agreement, compareWithLlamaCpp } from '../../helpers/llamacpp-compare.js'
import { type RandomModelSpec, writeRandomModel } from '../../helpers/random-model.js'

type QuantDType = Extract<GgufExportDType, 'q8_0' | 'q4_0' | 'q4_k_m' | 'q6_k'>

const skipReason = llamaQuantizeUnavailable()
if (skipReason) console.warn(`skipping the checks against llama.cpp's quantizer: ${skipReason}`)
if (!nlc) console.warn("node-llama-cpp is not installed: skipping llama.cpp's decode of its quantized files")

interface Case {
  /** The golden fixture whose prompts (and, for a golden case, weights) the case uses. */
  fixture: 'qwen2-tiny' | 'gpt2-tiny' | 'llama-tiny'
  /** A random model with these widths; the golden fixture itself when absent. */
  spec?: RandomModelSpec
  dtypes: QuantDType[]
  /** The type also written by `kiln quantize F32.gguf` (a CLI run each: one per case, all four types). */
  cli: QuantDType
  /**
   * Top-2 logit gap below which a greedy step may go either way between kiln and llama.cpp on the
   * same file: llama.cpp quantizes the activations (Q8_0 / Q8_K) that meet quantized weights and
   * keeps its KV cache in F16, kiln keeps f32 activations. How far that moves a logit grows with
   * the logits' size, so it is set per case from measurement (see the table this file prints).
   */
  nearTie: number
}

const CASES: Record<string, Case> = {
  // The golden fixtures are 64 wide: no K-quants, but their real tokenizers and trained weights.
  // Small logits: gguf-model.test.ts's 0.005 (both agree on all 24 tokens here).
  'qwen2-tiny': { fixture: 'qwen2-tiny', dtypes: ['q8_0', 'q4_0'], cli: 'q8_0', nearTie: 0.005 },
  'gpt2-tiny': { fixture: 'gpt2-tiny', dtypes: ['q8_0', 'q4_0'], cli: 'q4_0', nearTie: 0.005 },
  // 8 layers: Q4_K_M's use_more_bits gives Q6_K attn_v / ffn_down to layers 0, 3, 6 and 7. Untied,
  // with logits up to ~33 and runner-ups within 0.1–0.5 at most steps: llama.cpp was measured to
  // part from kiln at top-2 gaps up to 0.49 (Q8_0; never on the F32 file), hence 1.0. Its greedy
  // check is then short, and the next-token distributions carry the comparison.
  'llama-k': {
    fixture: 'llama-tiny',
    spec: {
      fixture: 'llama-tiny',
      hidden: 256,
      intermediate: 768,
      layers: 8,
      heads: 4,
      kvHeads: 2,
      headDim: 64,
      tied: false,
      bias: false,
    },
    dtypes: ['q4_k_m', 'q6_k', 'q8_0', 'q4_0'],
    cli: 'q4_k_m',
    nearTie: 1,
  },
  // 4 layers (more bits on 2 and 3), tied head, q/k/v biases. Decisive: every top-2 gap > 60.
  'qwen2-k': {
    fixture: 'qwen2-tiny',
    spec: {
      fixture: 'qwen2-tiny',
      hidden: 256,
      intermediate: 512,
      layers: 4,
      heads: 4,
      kvHeads: 2,
      headDim: 64,
      tied: true,
      bias: true,
    },
    dtypes: ['q4_k_m', 'q6_k', 'q8_0', 'q4_0'],
    cli: 'q6_k',
    nearTie: 1,
  },
  // GPT-2: attn_qkv counts as attn_v, and a position_embd tensor that llama.cpp never quantizes.
  // Decisive, like qwen2-k.
  'gpt2-k': {
    fixture: 'gpt2-tiny',
    spec: {
      fixture: 'gpt2-tiny',
      hidden: 256,
      intermediate: 1024,
      layers: 3,
      heads: 4,
      kvHeads: 4,
      headDim: 64,
      tied: true,
      bias: true,
    },
    dtypes: ['q4_k_m'],
    cli: 'q4_k_m',
    nearTie: 1,
  },
}

/**
 * Bound on |p_llama.cpp − p_kiln| over the next-token distribution after each prompt, on the same
 * file. Measured: at most 0.087 (llama-k Q4_K_M, whose runner-ups are close), < 1e-30 on the tied
 * random models (p ≈ 1), ~1e-5 on the fixtures; a misread block layout or tensor scrambles the
 * distribution (Δp ~ 1).
 */
const PROB_DIFF_BOUND = 0.25
let tmp: string
const f32Files = new Map<string, string>()

interface Files {
  /** The case's name in CASES. */
  name: string
  /** kiln's exportGguf of the folder. */
  kiln: string
  /** `kiln quantize F32.gguf --type dtype`, for the case's `cli` type. */
  cli?: string
  /** llama.cpp's llama_model_quantize of the F32 GGUF. */
  llamacpp: string
}
const files = new Map<string, Files>()
const key = (name: string, dtype: QuantDType) => `${name} ${dtype}`

/** Runs the jobs, `limit` at a time. */
async function pool(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]()
  }
  await Promise.all(Array.from({ length: limit }, worker))
}

function sameMetadata(ours: GgufFile, theirs: GgufFile, label: string): void {
  expect([...theirs.metadata.keys()].sort(), label).toEqual([...ours.metadata.keys()].sort())
  for (const [k, v] of ours.metadata) expect(theirs.metadata.get(k), `${label}: ${k}`).toEqual(v)
}

const prompts = (c: Case) =>
  readJson<GoldenLM>(path.join(golden(c.fixture), 'golden.json')).single.map((s) => s.input_ids)
const NEW_TOKENS = 24

/** Per llama.cpp file: agreement of llama.cpp's decode with kiln's. */
const agreement: string[] = []
describe.skipIf(skipReason !== undefined)("llama.cpp's quantizer (llama_model_quantize) and kiln's", () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-llamacpp-quant-'))
    const jobs: (() => Promise<void>)[] = []
    for (const [name, c] of Object.entries(CASES)) {
      const folder = c.spec
        ? writeRandomModel(path.join(tmp, name), c.spec, name.length * 131 + c.spec.layers)
        : golden(c.fixture)
      const f32 = path.join(tmp, `${name}-f32.gguf`)
      exportGguf(folder, f32, { dtype: 'f32' })
      f32Files.set(name, f32)
      for (const dtype of c.dtypes) {
        const base = path.join(tmp, `${name}-${dtype}`)
        const f: Files = { name, kiln: `${base}-kiln.gguf`, llamacpp: `${base}-llamacpp.gguf` }
        if (dtype === c.cli) f.cli = `${base}-cli.gguf`
        files.set(key(name, dtype), f)
        // llama-quantize with one thread: the bytes do not depend on it, and the jobs run two at a time.
        jobs.push(() => llamaQuantize(f32, f.llamacpp, LLAMA_FTYPE[dtype]))
        jobs.push(async () => {
          exportGguf(folder, f.kiln, { dtype })
        })
        const cli = f.cli
        if (cli)
          jobs.push(async () => {
            const args = ['quantize', f32, '--type', dtype, '-o', cli, '--no-quality', '--json']
            const r = await runKiln(args, { timeoutMs: 120_000 })
            if (r.status !== 0) throw new Error(`kiln quantize ${name} ${dtype}: ${r.stderr}`)
            expect(jsonOut(r).warnings).toEqual([])
          })
      }
    }
    await pool(jobs, 2)
  }, 240_000)

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true })
    if (agreement.length > 0)
      console.log(
        [
          "| file | llama.cpp = kiln greedy, per prompt | kiln's tokens before a near-tie (the case's gap) | max Δp after the prompts |",
          '| --- | --- | --- | --- |',
          ...agreement,
        ].join('\n'),
      )
  })

  for (const [name, c] of Object.entries(CASES)) {
    for (const dtype of c.dtypes) {
      describe(`${name} ${dtype}`, () => {
        it("llama.cpp's file has kiln's tensors, types and bytes", () => {
          const f = files.get(key(name, dtype))!
          const theirs = openGguf(f.llamacpp)
          const counts: Record<string, number> = {}
          const kilnFiles: [string, string][] = [['exportGguf', f.kiln]]
          if (f.cli) kilnFiles.push(['kiln quantize', f.cli])
          for (const [label, file] of kilnFiles) {
            const ours = openGguf(file)
            sameMetadata(ours, theirs, label)
            expect(theirs.metadata.get('general.file_type')).toEqual({
              type: 'u32',
              value: LLAMA_FTYPE[dtype],
            })
            // llama.cpp orders tensors by layer, then by name; kiln as convert_hf_to_gguf.py does.
            expect([...theirs.tensors.keys()].sort(), label).toEqual([...ours.tensors.keys()].sort())
            for (const [tensor, t] of theirs.tensors) {
              const o = ours.tensors.get(tensor)!
              const where = `${label}: ${tensor}`
              expect(t.shape, where).toEqual(o.shape)
              expect(o.type, where).toBe(t.type)
              expect(Buffer.compare(o.data, t.data), `${where} (${t.type}) bytes`).toBe(0)
              if (label === 'exportGguf') counts[t.type] = (counts[t.type] ?? 0) + 1
            }
          }
          // The comparison covered the types the mix is about.
          if (dtype === 'q4_k_m') expect(counts.Q4_K > 0 && counts.Q6_K > 0).toBe(true)
          if (dtype === 'q6_k') expect(counts.Q6_K).toBeGreaterThan(0)
          if (dtype === 'q8_0') expect(counts.Q8_0).toBeGreaterThan(0)
          if (dtype === 'q4_0') expect(counts.Q4_0).toBeGreaterThan(0)
          // GPT-2's position embeddings stay F32; 256-wide Q4_0 files have a Q6_K head.
          if (name.startsWith('gpt2')) expect(counts.F32).toBeGreaterThan(0)
          if (dtype === 'q4_0' && c.spec !== undefined) expect(counts.Q6_K).toBeGreaterThan(0)
        })

        it("kiln loads llama.cpp's file and decodes it as its own", async () => {
          const f = files.get(key(name, dtype))!
          const theirs = loadModel(f.llamacpp, { threads: 1 })
          const ours = loadModel(f.kiln, { threads: 1 })
          try {
            expect(theirs.format).toBe('gguf')
            expect(theirs.config.numLayers).toBe(ours.config.numLayers)
            expect(theirs.config.vocabSize).toBe(ours.config.vocabSize)
            const ps = prompts(c)
            const a = await kilnGreedy(theirs, ps, NEW_TOKENS)
            const b = await kilnGreedy(ours, ps, NEW_TOKENS)
            // The same weight bytes in another tensor order: the very same computation.
            expect(a).toEqual(b)
            for (const p of ps) {
              const x = await theirs.logits(p)
              const y = await ours.logits(p)
              expect(Buffer.compare(Buffer.from(x.buffer), Buffer.from(y.buffer))).toBe(0)
            }
          } finally {
            theirs.dispose()
            ours.dispose()
          }
        })
      })
    }
  }

  it('kiln generate -m runs the files llama.cpp wrote', async () => {
    // A fixture with GPT-2's F32 position_embd and the two K-quant mixes' richest files; the CLI
    // starts take most of the time, so not every file.
    const firsts = ['gpt2-tiny q8_0', 'llama-k q4_k_m', 'qwen2-k q4_k_m'].map((k) => files.get(k)!)
    const jobs = firsts.map((f) => async () => {
      const text = readJson<GoldenLM>(path.join(golden(CASES[f.name].fixture), 'golden.json')).prompts[0]
      const args = [
        'generate',
        '-m',
        f.llamacpp,
        '--temperature',
        '0',
        '--max-new-tokens',
        '6',
        '--json',
        text,
      ]
      const r = await runKiln(args, { timeoutMs: 60_000 })
      expect(r.status, `${f.name}: ${r.stderr}`).toBe(0)
      const out = jsonOut<{ tokens: number[]; completion_tokens: number }>(r)
      expect(out.completion_tokens, f.name).toBe(6)
      // The CLI's tokens are kiln's greedy decode of the file.
      const model = loadModel(f.llamacpp, { threads: 1 })
      try {
        const [want] = await kilnGreedy(model, [model.tokenizer.encode(text)], 6)
        expect(out.tokens, f.name).toEqual(want)
      } finally {
        model.dispose()
      }
    })
    await pool(jobs, 2)
  })

  describe.skipIf(!nlc)('llama.cpp decodes its files as kiln does', () => {
    let llama: NlcLlama
    beforeAll(async () => {
      llama = await openLlama()
    })
    afterAll(async () => {
      await llama?.dispose()
    })

    for (const [name, c] of Object.entries(CASES)) {
      for (const dtype of c.dtypes) {
        it(`${name} ${dtype}: greedy ids up to kiln's first near-tie, and next-token distributions`, async () => {
          const file = files.get(key(name, dtype))!.llamacpp
          const kiln = loadModel(file, { threads: 1 })
          const theirs = await llama.loadModel({ modelPath: file })
          let result: Agreement | undefined
          try {
            result = await compareWithLlamaCpp(kiln, theirs, prompts(c), c.nearTie, NEW_TOKENS)
          } finally {
            if (result)
              agreement.push(
                `| ${name} ${dtype} | ${result.cells.join(', ')} | ${result.sures.join(', ')} | ${result.maxProbDiff.toExponential(1)} |`,
              )
            kiln.dispose()
            await theirs.dispose()
          }
          expect(result.maxProbDiff).toBeLessThan(PROB_DIFF_BOUND)
        })
      }
    }
  })
})
