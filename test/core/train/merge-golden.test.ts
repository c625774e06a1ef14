// Merging a PEFT adapter into its base (outputs.ts writeMergedModel) against PEFT's
// merge_and_unload: the merged model's logits on the golden batch (test/fixtures/golden/lora).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { readLoraAdapter } from '../../../src/core/formats/peft.js'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { writeMergedModel } from '../../../src/core/train/outputs.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'

afterAll(() => removeTempDirs())

it('merges the trained adapter into llama-tiny as PEFT does', async () => {
  const lora = golden('lora')
  const batch = JSON.parse(readFileSync(path.join(lora, 'golden.json'), 'utf8'))
  const dir = path.join(makeTempDir(), 'merged')
  const adapter = readLoraAdapter(path.join(lora, 'adapter_after_5_steps'))
  expect(adapter.scale).toBe(2)
  writeMergedModel(dir, openModelSource(golden('llama-tiny')), adapter, false)
  const want = asFloat32(
    openSafetensors(path.join(lora, 'merged_logits.safetensors')).tensors.get('merged_logits')!,
  )
  const model = loadModel(dir, { threads: 2 })
  try {
    const V = model.config.vocabSize
    const T = batch.input_ids[0].length
    for (let b = 0; b < batch.input_ids.length; b++) {
      // Padded positions are not compared: the reference masks them out.
      const n = batch.attention_mask[b].reduce((s: number, m: number) => s + m, 0)
      const got = await model.logits(batch.input_ids[b].slice(0, n))
      let maxAbs = 0
      let maxDiff = 0
      for (let t = 0; t < n; t++)
        for (let v = 0; v < V; v++) {
          const w = want[(b * T + t) * V + v]
          maxAbs = Math.max(maxAbs, Math.abs(w))
          maxDiff = Math.max(maxDiff, Math.abs(got[t * V + v] - w))
        }
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs))
    }
  } finally {
    model.dispose()
  }
})
