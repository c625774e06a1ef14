// kiln export --format onnx --optimize ort: ONNX Runtime's fused operators (GroupQueryAttention with
// rotary, SkipSimplifiedLayerNormalization, MatMulNBits) as ONNX Runtime GenAI's model builder
// writes them. Each decoder fixture at fp32 and q4: validated against kiln, the same greedy ids in
// ONNX Runtime as the standard (--optimize none) export at the same dtype (also decoded over one
// shared KV buffer per layer, GroupQueryAttention writing in place), and a genai_config.json
// whose fields match onnxruntime-genai's published format and the graph it names.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { jsonOut, runKiln } from '../helpers/cli.js'
import { type GoldenLM, golden, readJson } from '../helpers/fixtures.js'
import { goldenKvShape, greedyOrt } from '../helpers/onnx.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-onnx-ort-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const MODELS = ['llama-tiny', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']
const FILE = { fp32: 'model.onnx', q4: 'model_q4.onnx' } as const

async function exportOnnx(m: string, dtype: keyof typeof FILE, optimize: 'none' | 'ort'): Promise<string> {
  const out = path.join(tmp, `${m}-${dtype}-${optimize}`)
  const r = await runKiln([
    'export',
    golden(m),
    '--format',
    'onnx',
    '--dtype',
    dtype,
    '--optimize',
    optimize,
    '-o',
    out,
    '--json',
  ])
  expect(r.status, r.stdout + r.stderr).toBe(0)
  expect(jsonOut<{ validation: { ok: boolean } }>(r).validation.ok).toBe(true)
  return out
}

describe('kiln export --format onnx --optimize ort', () => {
  for (const m of MODELS) {
    it(`${m}: fused graphs give the standard export's greedy ids at fp32 and q4`, async () => {
      const g = readJson<GoldenLM>(path.join(golden(m), 'golden.json'))
      const kv = goldenKvShape(m)
      for (const dtype of ['fp32', 'q4'] as const) {
        const fused = path.join(await exportOnnx(m, dtype, 'ort'), 'onnx', FILE[dtype])
        const plain = path.join(await exportOnnx(m, dtype, 'none'), 'onnx', FILE[dtype])
        const bytes = readFileSync(fused)
        expect(bytes.includes('GroupQueryAttention')).toBe(true)
        if (dtype === 'q4') expect(bytes.includes('MatMulNBits')).toBe(true)
        if (m !== 'gpt2-tiny') expect(bytes.includes('SkipSimplifiedLayerNormalization')).toBe(true)
        for (const single of g.single) {
          const want = await greedyOrt(plain, single.input_ids, 12, kv)
          expect(await greedyOrt(fused, single.input_ids, 12, kv), `${m} ${dtype}`).toEqual(want)
          // Decoded over one shared KV buffer per layer, as onnxruntime-genai runs it.
          expect(await greedyOrt(fused, single.input_ids, 12, kv, 64), `${m} ${dtype} shared`).toEqual(want)
          // At fp32 both are the golden (PyTorch) greedy ids.
          if (dtype === 'fp32') expect(want).toEqual(single.greedy_new_ids.slice(0, 12))
        }
      }
    }, 60_000)
  }

  it("genai_config.json follows onnxruntime-genai's format and names the graph's inputs and outputs", async () => {
    const dir = path.join(tmp, 'qwen2-tiny-q4-ort')
    const genai = readJson<{
      model: Record<string, unknown> & { decoder: Record<string, unknown> }
      search: Record<string, unknown>
    }>(path.join(dir, 'genai_config.json'))
    const cfg = readJson<Record<string, unknown>>(path.join(golden('qwen2-tiny'), 'config.json'))
    expect(genai.model).toMatchObject({
      type: 'qwen2',
      vocab_size: cfg.vocab_size,
      context_length: cfg.max_position_embeddings,
    })
    for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) expect(genai.model).toHaveProperty(k)
    const d = genai.model.decoder
    expect(d).toMatchObject({
      filename: 'onnx/model_q4.onnx',
      hidden_size: cfg.hidden_size,
      num_attention_heads: cfg.num_attention_heads,
      num_key_value_heads: cfg.num_key_value_heads,
      num_hidden_layers: cfg.num_hidden_layers,
      head_size: (cfg.hidden_size as number) / (cfg.num_attention_heads as number),
      session_options: { log_id: 'onnxruntime-genai' },
    })
    expect(existsSync(path.join(dir, d.filename as string))).toBe(true)
    const session = await ort.InferenceSession.create(path.join(dir, d.filename as string))
    const inputs = d.inputs as Record<string, string>
    const outputs = d.outputs as Record<string, string>
    const layers = cfg.num_hidden_layers as number
    const expand = (pattern: string) =>
      Array.from({ length: layers }, (_, i) => pattern.replace('%d', String(i)))
    for (const k of ['input_ids', 'attention_mask', 'position_ids'])
      expect(session.inputNames).toContain(inputs[k])
    for (const n of [...expand(inputs.past_key_names), ...expand(inputs.past_value_names)])
      expect(session.inputNames).toContain(n)
    expect(session.outputNames).toContain(outputs.logits)
    for (const n of [...expand(outputs.present_key_names), ...expand(outputs.present_value_names)])
      expect(session.outputNames).toContain(n)
    expect(genai.search).toMatchObject({ num_beams: 1, do_sample: false, past_present_share_buffer: false })
    for (const k of ['max_length', 'min_length', 'top_k', 'top_p', 'temperature', 'repetition_penalty'])
      expect(genai.search).toHaveProperty(k)
  })

  it('refuses an encoder and the dtypes it has no fused form for, with one line', async () => {
    const cases: [string, string[], RegExp][] = [
      ['bert-tiny', [], /--optimize ort applies to decoders/],
      ['llama-tiny', ['--dtype', 'fp16'], /--optimize ort writes fp32 or q4 \(MatMulNBits\), not fp16/],
    ]
    for (const [m, extra, message] of cases) {
      const r = await runKiln([
        'export',
        golden(m),
        '--format',
        'onnx',
        '--optimize',
        'ort',
        '-o',
        path.join(tmp, 'x'),
        ...extra,
      ])
      expect(r.status).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
  })
})
