// kiln export --format onnx end to end, judged by the reference stack: every decoder fixture is
// exported through the CLI, run in ONNX Runtime against the golden logits (PyTorch + transformers),
// and driven by transformers.js's own generation loop to the golden greedy ids, alone and as a
// left-padded batch. Refusals are one line; a killed export never leaves a folder under its name.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../src/core/formats/safetensors.js'
import { BIN, jsonOut, runKiln } from '../helpers/cli.js'
import { type GoldenLM, golden, maxAbsDiff, readJson } from '../helpers/fixtures.js'
import { emptyPast, goldenKvShape, nextPast, stepFeeds } from '../helpers/onnx.js'

const DECODERS = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-onnx-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface OnnxReport {
  output: string
  format: string
  dtype: string
  architecture: string
  files: string[]
  opset: number
  validation: { ok: boolean; maxAbsDiff: number; promptTokens: number; decodeSteps: number }
}

const reports = new Map<string, OnnxReport>()

beforeAll(async () => {
  for (const m of DECODERS) {
    const r = await runKiln(['export', golden(m), '--format', 'onnx', '-o', path.join(tmp, m), '--json'])
    expect(r.status, r.stderr).toBe(0)
    reports.set(m, jsonOut<OnnxReport>(r) as OnnxReport)
  }
}, 120_000)

describe('kiln export --format onnx', () => {
  for (const m of DECODERS) {
    it(`${m}: the folder transformers.js reads, validated in ONNX Runtime against kiln`, () => {
      const r = reports.get(m) as OnnxReport
      expect(r).toMatchObject({ format: 'onnx', dtype: 'fp32', opset: 21, output: path.join(tmp, m) })
      expect(r.files).toEqual(expect.arrayContaining(['onnx/model.onnx', 'config.json', 'tokenizer.json']))
      for (const f of r.files) expect(existsSync(path.join(tmp, m, f))).toBe(true)
      expect(r.validation.ok).toBe(true)
      expect(r.validation.maxAbsDiff).toBeLessThan(1e-4)
      expect(r.validation.decodeSteps).toBeGreaterThan(0)
    })

    it(`${m}: ONNX Runtime's logits are the golden ones (1e-4), prefill then decode through the past`, async () => {
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      const ref = openSafetensors(path.join(golden(m), 'golden.safetensors'))
      const session = await ort.InferenceSession.create(path.join(tmp, m, 'onnx', 'model.onnx'))
      for (let i = 0; i < g.single.length; i++) {
        const ids = g.single[i].input_ids
        const want = asFloat32(ref.tensors.get(`logits.${i}`)!)
        const V = want.length / ids.length
        // Prefill all but the last token, then the last one as a decode step through the past.
        const head = ids.slice(0, -1)
        const first = await session.run({ ...emptyPast(session, goldenKvShape(m)), ...stepFeeds(head) })
        expect(maxAbsDiff(first.logits.data as Float32Array, want.subarray(0, head.length * V))).toBeLessThan(
          1e-4,
        )
        const second = await session.run({
          ...nextPast(session, first),
          ...stepFeeds([ids[ids.length - 1]], head.length),
        })
        expect(maxAbsDiff(second.logits.data as Float32Array, want.subarray(head.length * V))).toBeLessThan(
          1e-4,
        )
      }
    })
  }

  it("transformers.js's generation loop gives the golden greedy ids, alone and left-padded in a batch", async () => {
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
    for (const m of DECODERS) {
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      const model = await tjs.AutoModelForCausalLM.from_pretrained(m, {
        dtype: 'fp32',
        local_files_only: true,
      })
      const options = { max_new_tokens: g.new_tokens, min_new_tokens: g.new_tokens, do_sample: false }
      for (const single of g.single) {
        const ids = [single.input_ids]
        const out = (await model.generate({
          input_ids: tensor(ids),
          attention_mask: tensor([ids[0].map(() => 1)]),
          ...options,
        })) as { tolist(): bigint[][] }
        expect(out.tolist()[0].slice(ids[0].length).map(Number), m).toEqual(single.greedy_new_ids)
      }
      const width = g.batched.input_ids[0].length
      const batch = (await model.generate({
        input_ids: tensor(g.batched.input_ids),
        attention_mask: tensor(g.batched.attention_mask),
        ...options,
      })) as { tolist(): bigint[][] }
      expect(
        batch.tolist().map((row) => row.slice(width).map(Number)),
        `${m} batched`,
      ).toEqual(g.batched.greedy_new_ids)
      await model.dispose()
    }
  }, 120_000)

  it('refuses with one line: an existing folder, a low opset, GGUF-only flags', async () => {
    const cases: [string[], RegExp, number][] = [
      [['-o', path.join(tmp, 'llama-tiny')], /exists \(pass --force to replace it\)/, 2],
      [['-o', path.join(tmp, 'x1'), '--opset', '13'], /--opset must be an integer ≥ 21/, 2],
      [
        ['-o', path.join(tmp, 'x2'), '--dtype', 'f16'],
        /--dtype f16 is not one of --format onnx's \(fp32, fp16, q8, int8, uint8, q4\)/,
        2,
      ],
      [['-o', path.join(tmp, 'x3'), '--atol', 'abc'], /--atol must be > 0/, 2],
    ]
    for (const [extra, message, status] of cases) {
      const r = await runKiln(['export', golden('llama-tiny'), '--format', 'onnx', ...extra])
      expect(r.status, r.stderr).toBe(status)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
    const gguf = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'gguf',
      '--no-validate',
      '-o',
      'x.gguf',
    ])
    expect(gguf.stderr).toMatch(/--validate applies to --format onnx only/)
    expect(readdirSync(tmp).filter((f) => /^x\d$/.test(f) || f.endsWith('.tmp'))).toEqual([])
  })

  it('--force replaces a folder only once the new one is complete', async () => {
    const out = path.join(tmp, 'llama-tiny')
    const before = readFileSync(path.join(out, 'onnx', 'model.onnx'))
    const r = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'onnx',
      '-o',
      out,
      '--force',
      '--no-validate',
    ])
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(path.join(out, 'onnx', 'model.onnx')).equals(before)).toBe(true)
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('a killed export never leaves a folder under its name', async () => {
    // SIGKILL at moments spread over the export's run (it takes about a second here).
    for (const delay of [50, 200, 400, 600, 800, 1000, 1300]) {
      const out = path.join(tmp, `killed-${delay}`)
      const child = spawn(
        process.execPath,
        [BIN, 'export', golden('gpt2-tiny'), '--format', 'onnx', '-o', out],
        {
          stdio: 'ignore',
        },
      )
      // Listened for from the start: an export that finishes before the kill has exited already.
      const exited = new Promise((resolve) => child.on('exit', resolve))
      await new Promise((resolve) => setTimeout(resolve, delay))
      child.kill('SIGKILL')
      await exited
      if (!existsSync(out)) continue
      // The export got as far as the rename: the folder is whole, and loads.
      const session = await ort.InferenceSession.create(path.join(out, 'onnx', 'model.onnx'))
      expect(session.outputNames[0]).toBe('logits')
      expect(existsSync(path.join(out, 'tokenizer.json'))).toBe(true)
    }
    // The next export into the same place cleans up what a killed one left beside it.
    const again = await runKiln([
      'export',
      golden('gpt2-tiny'),
      '--format',
      'onnx',
      '-o',
      path.join(tmp, 'killed-50'),
      '--force',
    ])
    expect(again.status, again.stderr).toBe(0)
    expect(readdirSync(tmp).filter((f) => f.startsWith('.killed-50.'))).toEqual([])
  }, 60_000)
})
