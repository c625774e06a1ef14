// kiln export --adapter DIR: the base with a PEFT adapter merged in, exported. The GGUF's logits are
// those of PEFT's merge_and_unload (the golden lora fixture); the ONNX export validates in ONNX
// Runtime against the merged model; the temporary merged copy never outlives the command.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../src/core/formats/safetensors.js'
import { loadModel } from '../../src/core/runtime/model.js'
import { runKiln } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-adapter-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const adapter = path.join(golden('lora'), 'adapter_after_5_steps')

describe.concurrent('kiln export --adapter', () => {
  it('--format gguf: the merged model, as PEFT merges it', async () => {
    const dir = mkdtempSync(path.join(tmp, 'gguf-'))
    const out = path.join(dir, 'merged.gguf')
    const r = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'gguf',
      '--dtype',
      'f32',
      '-o',
      out,
      '--adapter',
      adapter,
    ])
    expect(r.status, r.stderr).toBe(0)
    expect(readdirSync(dir)).toEqual(['merged.gguf']) // no temporary copy left beside it
    const lora = golden('lora')
    const batch = JSON.parse(readFileSync(path.join(lora, 'golden.json'), 'utf8'))
    const want = asFloat32(
      openSafetensors(path.join(lora, 'merged_logits.safetensors')).tensors.get('merged_logits')!,
    )
    const model = loadModel(out, { threads: 1 })
    try {
      const n = batch.attention_mask[0].reduce((s: number, m: number) => s + m, 0)
      const got = await model.logits(batch.input_ids[0].slice(0, n))
      let diff = 0
      let scale = 1
      for (let i = 0; i < got.length; i++) {
        diff = Math.max(diff, Math.abs(got[i] - want[i]))
        scale = Math.max(scale, Math.abs(want[i]))
      }
      expect(diff / scale).toBeLessThanOrEqual(1e-4)
    } finally {
      model.dispose()
    }
  })

  it('--format onnx: validated in ONNX Runtime', async () => {
    const dir = mkdtempSync(path.join(tmp, 'onnx-'))
    const out = path.join(dir, 'merged-onnx')
    const r = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'onnx',
      '-o',
      out,
      '--adapter',
      adapter,
      '--json',
    ])
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).validation.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(readdirSync(dir)).toEqual(['merged-onnx'])
  })

  it('refuses an adapter that is not one, in one line, leaving nothing behind', async () => {
    const dir = mkdtempSync(path.join(tmp, 'bad-'))
    const r = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'gguf',
      '-o',
      path.join(dir, 'x.gguf'),
      '--adapter',
      golden('gpt2-tiny'),
    ])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^kiln: .*gpt2-tiny: no adapter_config\.json \(not a PEFT adapter folder\)\n$/)
    expect(readdirSync(dir)).toEqual([])
  })
})
