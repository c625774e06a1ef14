// LoRA training against PEFT (test/fixtures/golden/lora, README there): the step-0 loss and the
// gradient of every LoRA tensor, then five AdamW steps: the loss before each and the adapter after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TrainSession } from '../../../src/core/train/train-session.js'
import { golden as fixture } from '../../helpers/fixtures.js'
import { relError } from '../../helpers/numbers.js'
import { ADAM, batch, golden, goldenLoraSession, loraFile, PEFT, tensors } from './golden-lora.js'

for (const backend of ['cpu', 'ref'] as const) {
  describe(`LoRA training against PEFT (${backend} kernels)`, () => {
    let session: TrainSession
    beforeAll(() => {
      session = goldenLoraSession(fixture('llama-tiny'), backend)
      expect(session.params.length).toBe(tensors(loraFile('adapter_init', 'adapter_model.safetensors')).size)
    })
    afterAll(() => session.dispose())

    it('computes the step-0 loss and every LoRA gradient', async () => {
      const { lossSum, tokens } = await session.step(batch())
      expect(Math.abs(lossSum / tokens - golden.loss_step0)).toBeLessThan(1e-4)
      const want = tensors(loraFile('grads_step0.safetensors'))
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
      const after = tensors(loraFile('adapter_after_5_steps', 'adapter_model.safetensors'))
      for (const p of session.params)
        expect(relError(session.read(p.id), after.get(PEFT + p.name) as Float32Array), p.name).toBeLessThan(
          1e-4,
        )
      const { lossSum, tokens } = await session.step(batch())
      expect(Math.abs(lossSum / tokens - golden.loss_after_5_steps)).toBeLessThan(1e-4)
    })
  })
}
