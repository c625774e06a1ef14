// LoRA training against PEFT (test/fixtures/golden/lora, README there): the step-0 loss and the
// gradient of every LoRA tensor, then five AdamW steps: the loss before each and the adapter after.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { TrainSession } from '../../../src/core/train/train-session.js'
import type { TrainExample } from '../../../src/core/train/types.js'
import { relError } from '../../helpers/numbers.js'

const GOLDEN = path.resolve(__dirname, '../../fixtures/golden')
const LORA = path.join(GOLDEN, 'lora')
const golden = JSON.parse(readFileSync(path.join(LORA, 'golden.json'), 'utf8'))
const PEFT = 'base_model.model.'

function tensors(file: string): Map<string, Float32Array> {
  const f = openSafetensors(file)
  return new Map([...f.tensors].map(([name, v]) => [name, asFloat32(v)]))
}

// The padded batch as ragged sequences: padding (mask 0) is dropped, not attended.
function batch(): TrainExample[] {
  return golden.input_ids.map((ids: number[], b: number) => {
    const T = golden.attention_mask[b].reduce((s: number, m: number) => s + m, 0)
    return { ids: ids.slice(0, T), labels: golden.labels[b].slice(0, T) }
  })
}

const ADAM = {
  lr: golden.optimizer.lr,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: golden.optimizer.weight_decay,
}

for (const backend of ['cpu', 'ref'] as const) {
  describe(`LoRA training against PEFT (${backend} kernels)`, () => {
    let session: TrainSession
    beforeAll(() => {
      session = new TrainSession(openModelSource(path.join(GOLDEN, 'llama-tiny')), {
        method: 'lora',
        lora: { rank: 4, alpha: 8, target: ['q_proj', 'v_proj', 'down_proj'] },
        maxRows: 64,
        threads: 2,
        backend,
      })
      const init = tensors(path.join(LORA, 'adapter_init', 'adapter_model.safetensors'))
      expect(session.params.length).toBe(init.size)
      for (const p of session.params) {
        const value = init.get(PEFT + p.name)
        expect(value, p.name).toBeDefined()
        session.write(p.id, value as Float32Array)
      }
    })
    afterAll(() => session.dispose())

    it('computes the step-0 loss and every LoRA gradient', async () => {
      const { lossSum, tokens } = await session.step(batch())
      expect(Math.abs(lossSum / tokens - golden.loss_step0)).toBeLessThan(1e-4)
      const want = tensors(path.join(LORA, 'grads_step0.safetensors'))
      for (const p of session.params) {
        const g = session.read(p.grad).map((x) => x / tokens)
        expect(relError(g, want.get(PEFT + p.name) as Float32Array), p.name).toBeLessThan(1e-3)
      }
      session.update(ADAM, tokens)
    })

    it('follows PEFT through five AdamW steps', async () => {
      // step 0 was taken above
      for (let s = 1; s < 5; s++) {
        const { lossSum, tokens } = await session.step(batch())
        expect(Math.abs(lossSum / tokens - golden.losses_before_each_step[s]), `step ${s}`).toBeLessThan(1e-4)
        session.update(ADAM, tokens)
      }
      const after = tensors(path.join(LORA, 'adapter_after_5_steps', 'adapter_model.safetensors'))
      for (const p of session.params)
        expect(relError(session.read(p.id), after.get(PEFT + p.name) as Float32Array), p.name).toBeLessThan(
          1e-4,
        )
      const { lossSum, tokens } = await session.step(batch())
      expect(Math.abs(lossSum / tokens - golden.loss_after_5_steps)).toBeLessThan(1e-4)
    })
  })
}
