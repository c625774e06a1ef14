// kiln export FILE.gguf --format onnx: the golden decoders exported to GGUF by kiln's own writer
// (F32 and Q8_0), then to ONNX through the CLI. From F32 the graph is byte for byte the folder
// export's (q/k rows back in rotate-half order, GPT-2's Conv1D as transformers stores it), so ONNX
// Runtime's logits and greedy ids are the folder export's; from Q8_0 the export says in one warning
// line what it dequantized, and validates against kiln's run of the Q8_0 file. The folder's
// config.json, generation_config.json and tokenizer files are rebuilt from the GGUF metadata: kiln
// reads them back to the same config, the `tokenizers` crate encodes as kiln's GGUF tokenizer, and
// transformers.js generates the golden greedy ids from the folder.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { Tokenizer as RustTokenizer } from 'tokenizers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../src/core/export/to-gguf.js'
import { loadModelConfig } from '../../src/core/models/config.js'
import { loadGenerationConfig } from '../../src/core/models/generation-config.js'
import { openModelSource } from '../../src/core/runtime/model-source.js'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { jsonOut, runKiln } from '../helpers/cli.js'
import { type GoldenLM, golden, maxAbsDiff, readJson } from '../helpers/fixtures.js'
import { EXTRA_TEXTS } from '../helpers/gguf-exports.js'
import { emptyPast, goldenKvShape, greedyOrt, stepFeeds } from '../helpers/onnx.js'

const MODELS = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny']
/** What validation of a Q8_0 source must reach here (its default --atol is 0.25; see docs/export.md). */
const Q8_ATOL = 1e-3

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-onnx-gguf-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface OnnxReport {
  output: string
  dtype: string
  architecture: string
  files: string[]
  validation: { ok: boolean; maxAbsDiff: number; atol: number; decodeSteps: number }
  warnings: string[]
}

interface Run {
  report: OnnxReport
  stderr: string
}

const gguf = (m: string, type: string) => path.join(tmp, `${m}-${type}.gguf`)
const out = (m: string, kind: string) => path.join(tmp, `${m}-${kind}`)
const runs = new Map<string, Run>()

async function exportOnnx(model: string, dir: string, extra: string[] = []): Promise<Run> {
  const r = await runKiln(['export', model, '--format', 'onnx', '-o', dir, '--json', ...extra])
  expect(r.status, r.stderr).toBe(0)
  return { report: jsonOut<OnnxReport>(r) as OnnxReport, stderr: r.stderr }
}

beforeAll(async () => {
  for (const m of MODELS) {
    exportGguf(golden(m), gguf(m, 'f32'), { dtype: 'f32' })
    exportGguf(golden(m), gguf(m, 'q8_0'), { dtype: 'q8_0' })
    await exportOnnx(golden(m), out(m, 'folder'), ['--no-validate'])
    runs.set(`${m}-f32`, await exportOnnx(gguf(m, 'f32'), out(m, 'f32')))
    runs.set(`${m}-q8_0`, await exportOnnx(gguf(m, 'q8_0'), out(m, 'q8_0')))
  }
  exportGguf(golden('llama-tiny'), gguf('llama-tiny', 'f16'), { dtype: 'f16' })
  runs.set('llama-tiny-f16', await exportOnnx(gguf('llama-tiny', 'f16'), out('llama-tiny', 'f16')))
  runs.set(
    'llama-tiny-q8_0-q4',
    await exportOnnx(gguf('llama-tiny', 'q8_0'), out('llama-tiny', 'q4'), ['--dtype', 'q4']),
  )
}, 180_000)

describe('kiln export FILE.gguf --format onnx', () => {
  for (const m of MODELS) {
    it(`${m} F32: the folder export's graph, validated against kiln within 1e-4, no warnings`, () => {
      const { report, stderr } = runs.get(`${m}-f32`) as Run
      expect(report).toMatchObject({ dtype: 'fp32', architecture: m.replace('-tiny', ''), warnings: [] })
      expect(report.files).toEqual(
        expect.arrayContaining([
          'onnx/model.onnx',
          'config.json',
          'generation_config.json',
          'tokenizer.json',
          'tokenizer_config.json',
        ]),
      )
      expect(stderr).not.toMatch(/warning/)
      expect(report.validation.ok).toBe(true)
      expect(report.validation.maxAbsDiff).toBeLessThan(1e-4)
      expect(report.validation.decodeSteps).toBeGreaterThan(0)
      const model = (kind: string) => readFileSync(path.join(out(m, kind), 'onnx', 'model.onnx'))
      expect(model('f32').equals(model('folder'))).toBe(true)
    })

    it(`${m} F32: ONNX Runtime's logits equal the folder export's (1e-4), and its greedy ids`, async () => {
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      const kv = goldenKvShape(m)
      const open = (kind: string) =>
        ort.InferenceSession.create(path.join(out(m, kind), 'onnx', 'model.onnx'))
      const [fromGguf, fromFolder] = await Promise.all([open('f32'), open('folder')])
      for (const single of g.single) {
        const feeds = { ...emptyPast(fromGguf, kv), ...stepFeeds(single.input_ids) }
        const a = (await fromGguf.run(feeds)).logits.data as Float32Array
        const b = (await fromFolder.run(feeds)).logits.data as Float32Array
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-4)
        const file = (kind: string) => path.join(out(m, kind), 'onnx', 'model.onnx')
        const ids = await greedyOrt(file('f32'), single.input_ids, g.new_tokens, kv)
        expect(ids).toEqual(await greedyOrt(file('folder'), single.input_ids, g.new_tokens, kv))
        expect(ids).toEqual(single.greedy_new_ids)
      }
    })

    it(`${m} Q8_0: one warning line counting the dequantized tensors; validated against kiln's run of the file`, () => {
      const { report, stderr } = runs.get(`${m}-q8_0`) as Run
      const warnings = stderr.split('\n').filter((l) => l.includes('warning'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(
        new RegExp(
          `^kiln: warning: ${m}-q8_0\\.gguf: \\d+ tensors dequantized from ggml block types ONNX cannot hold \\(Q8_0: \\d+\\) to float32$`,
        ),
      )
      expect(report.warnings).toEqual([warnings[0].replace('kiln: warning: ', '')])
      expect(report.validation).toMatchObject({ ok: true, atol: 0.25 })
      expect(report.validation.maxAbsDiff).toBeLessThan(Q8_ATOL)
    })

    it(`${m}: config.json and generation_config.json read back as the GGUF's config`, () => {
      const source = openModelSource(gguf(m, 'f32'))
      const { raw: _a, norm: wantNorm, ...want } = source.config
      const { raw: _b, norm, ...got } = loadModelConfig(out(m, 'f32'))
      expect(got).toEqual(want)
      // GGUF keeps eps as float32: config.json writes the shortest decimal of that float (1e-6).
      expect(norm.kind).toBe(wantNorm.kind)
      expect(Math.fround(norm.eps)).toBe(Math.fround(wantNorm.eps))
      expect(norm.eps).toBe(loadModelConfig(golden(m)).norm.eps)
      expect(loadGenerationConfig(out(m, 'f32'), source.config)).toEqual(source.generation)
    })

    it(`${m}: tokenizer.json loads in the tokenizers crate and encodes as kiln's GGUF tokenizer`, async () => {
      const source = openModelSource(gguf(m, 'f32'))
      const rust = RustTokenizer.fromFile(path.join(out(m, 'f32'), 'tokenizer.json'))
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      for (const [i, prompt] of g.prompts.entries()) {
        const ids = (await rust.encode(prompt, null, { addSpecialTokens: true })).getIds()
        expect(ids).toEqual(g.single[i].input_ids)
      }
      for (const text of [...g.prompts, ...EXTRA_TEXTS]) {
        const ids = source.tokenizer.encode(text)
        expect((await rust.encode(text, null, { addSpecialTokens: true })).getIds(), text).toEqual(ids)
        expect(await rust.decode(ids, true)).toBe(source.tokenizer.decode(ids, { skipSpecialTokens: true }))
      }
      // kiln reads the folder back to the same tokenizer, chat template included.
      const back = Tokenizer.fromFolder(out(m, 'f32'))
      const reference = Tokenizer.fromFolder(golden(m))
      expect(back.hasChatTemplate).toBe(reference.hasChatTemplate)
      if (reference.hasChatTemplate) {
        const messages = [{ role: 'user', content: 'Hi there' }]
        expect(back.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
          reference.applyChatTemplate(messages, { addGenerationPrompt: true }),
        )
      }
    })
  }

  it('an F16 GGUF (permuted q/k rows of 2-byte floats) exports without a warning, validated within 1e-4', () => {
    const { report, stderr } = runs.get('llama-tiny-f16') as Run
    expect(stderr).not.toMatch(/warning/)
    expect(report.validation.ok).toBe(true)
    expect(report.validation.maxAbsDiff).toBeLessThan(1e-4)
  })

  it('a Q8_0 GGUF exports as q4: dequantized, quantized again, validated', () => {
    const { report, stderr } = runs.get('llama-tiny-q8_0-q4') as Run
    expect(report.files).toContain('onnx/model_q4.onnx')
    expect(stderr).toMatch(/kiln: warning: .*\(Q8_0: \d+\) to float32, then quantized again for q4\n/)
    expect(report.validation.ok).toBe(true)
  })

  it("transformers.js's generation loop gives the golden greedy ids from the GGUF exports", async () => {
    const tjs = await import('@huggingface/transformers')
    tjs.env.allowRemoteModels = false
    tjs.env.allowLocalModels = true
    tjs.env.localModelPath = `${tmp}/`
    const tensor = (rows: number[][]) =>
      new tjs.Tensor(
        'int64',
        BigInt64Array.from(rows.flat(), (v) => BigInt(v)),
        [rows.length, rows[0].length],
      )
    for (const m of MODELS) {
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      const model = await tjs.AutoModelForCausalLM.from_pretrained(`${m}-f32`, {
        dtype: 'fp32',
        local_files_only: true,
      })
      const tokenizer = await tjs.AutoTokenizer.from_pretrained(`${m}-f32`, { local_files_only: true })
      for (const [i, single] of g.single.entries()) {
        const ids = [single.input_ids]
        expect(tokenizer.encode(g.prompts[i]), m).toEqual(single.input_ids)
        const generated = (await model.generate({
          input_ids: tensor(ids),
          attention_mask: tensor([ids[0].map(() => 1)]),
          max_new_tokens: g.new_tokens,
          min_new_tokens: g.new_tokens,
          do_sample: false,
        })) as { tolist(): bigint[][] }
        expect(generated.tolist()[0].slice(ids[0].length).map(Number), m).toEqual(single.greedy_new_ids)
      }
      await model.dispose()
    }
  }, 120_000)
})
