// kiln export --format onnx --dtype fp16|q8|int8|uint8|q4: each export validates against kiln at its
// dtype's default tolerance, lands under the file name transformers.js looks for, and stays within
// stated bounds of the golden logits (PyTorch + transformers, float32) on the golden prompts: top-1
// agreement and mean KL divergence per position. transformers.js generates with each of them.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { f16BitsToF32 } from '../../src/core/formats/float.js'
import { asFloat32, openSafetensors } from '../../src/core/formats/safetensors.js'
import { jsonOut, runKiln } from '../helpers/cli.js'
import { type GoldenLM, golden, readJson } from '../helpers/fixtures.js'
import { logSoftmax } from '../helpers/numbers.js'
import { emptyPast, goldenKvShape, stepFeeds } from '../helpers/onnx.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-onnx-dt-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const MODELS = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny']

/** Per dtype: transformers.js's file name, and the bounds against the golden float32 logits. */
const DTYPES: Record<string, { file: string; top1: number; kl: number }> = {
  fp16: { file: 'model_fp16.onnx', top1: 1, kl: 1e-7 },
  q8: { file: 'model_quantized.onnx', top1: 0.9, kl: 2e-5 },
  int8: { file: 'model_int8.onnx', top1: 0.9, kl: 2e-5 },
  uint8: { file: 'model_uint8.onnx', top1: 0.9, kl: 2e-5 },
  q4: { file: 'model_q4.onnx', top1: 0.7, kl: 1e-3 },
}

const argmax = (x: ArrayLike<number>) => {
  let best = 0
  for (let j = 1; j < x.length; j++) if (x[j] > x[best]) best = j
  return best
}

/** Top-1 agreement and mean KL(golden ‖ export) over every position of the golden prompts. */
async function closeness(m: string, file: string, half: boolean): Promise<{ top1: number; kl: number }> {
  const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
  const ref = openSafetensors(path.join(golden(m), 'golden.safetensors'))
  const kv = { ...goldenKvShape(m), half }
  const session = await ort.InferenceSession.create(file)
  let [agree, kl, total] = [0, 0, 0]
  for (let i = 0; i < g.single.length; i++) {
    const ids = g.single[i].input_ids
    const want = asFloat32(ref.tensors.get(`logits.${i}`)!)
    const V = want.length / ids.length
    const raw = (await session.run({ ...emptyPast(session, kv), ...stepFeeds(ids) })).logits.data as
      | Float32Array
      | Uint16Array
    const got =
      raw instanceof Uint16Array ? new Float32Array(Uint32Array.from(raw, f16BitsToF32).buffer) : raw
    for (let t = 0; t < ids.length; t++) {
      const [a, b] = [want.subarray(t * V, (t + 1) * V), got.subarray(t * V, (t + 1) * V)]
      if (argmax(a) === argmax(b)) agree++
      const [la, lb] = [logSoftmax(a), logSoftmax(b)]
      for (let j = 0; j < V; j++) kl += Math.exp(la[j]) * (la[j] - lb[j])
      total++
    }
  }
  return { top1: agree / total, kl: kl / total }
}

describe('kiln export --format onnx --dtype', () => {
  for (const [dtype, want] of Object.entries(DTYPES)) {
    it(`${dtype}: validated, named as transformers.js expects, within bounds of the golden logits`, async () => {
      for (const m of MODELS) {
        const out = path.join(tmp, `${m}-${dtype}`)
        const r = await runKiln([
          'export',
          golden(m),
          '--format',
          'onnx',
          '--dtype',
          dtype,
          '-o',
          out,
          '--json',
        ])
        expect(r.status, r.stdout + r.stderr).toBe(0)
        const report = jsonOut<{ files: string[]; validation: { ok: boolean } }>(r)
        expect(report.files).toContain(`onnx/${want.file}`)
        expect(report.validation.ok).toBe(true)
        const got = await closeness(m, path.join(out, 'onnx', want.file), dtype === 'fp16')
        expect(got.top1, `${m} top-1`).toBeGreaterThanOrEqual(want.top1)
        expect(got.kl, `${m} KL`).toBeLessThan(want.kl)
      }
    }, 60_000)
  }

  it('transformers.js loads each dtype by its name and generates; fp16 gives the golden greedy ids', async () => {
    const tjs = await import('@huggingface/transformers')
    tjs.env.allowRemoteModels = false
    tjs.env.allowLocalModels = true
    tjs.env.localModelPath = `${tmp}/`
    const m = 'qwen2-tiny'
    const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
    const ids = g.single[0].input_ids
    const tensor = (v: number[]) =>
      new tjs.Tensor(
        'int64',
        BigInt64Array.from(v, (x) => BigInt(x)),
        [1, v.length],
      )
    for (const dtype of Object.keys(DTYPES)) {
      const model = await tjs.AutoModelForCausalLM.from_pretrained(`${m}-${dtype}`, {
        dtype: dtype as 'fp16',
        local_files_only: true,
      })
      const out = (await model.generate({
        input_ids: tensor(ids),
        attention_mask: tensor(ids.map(() => 1)),
        max_new_tokens: 8,
        min_new_tokens: 8,
        do_sample: false,
      })) as { tolist(): bigint[][] }
      const generated = out.tolist()[0].slice(ids.length).map(Number)
      expect(generated).toHaveLength(8)
      if (dtype === 'fp16') expect(generated).toEqual(g.single[0].greedy_new_ids.slice(0, 8))
      await model.dispose()
    }
  }, 60_000)
})
