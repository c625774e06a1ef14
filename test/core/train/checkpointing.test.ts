// Gradient checkpointing (each layer's activations recomputed in the backward): the same loss and
// the same gradients, bit for bit, as keeping them, in less activation memory; for LoRA and full
// fine-tuning, llama and GPT-2.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { finetune } from '../../../src/core/train/finetune.js'
import { TrainSession, type TrainSessionOptions } from '../../../src/core/train/train-session.js'
import type { TrainExample } from '../../../src/core/train/types.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'
import { mulberry32 } from '../../helpers/numbers.js'
import { stepLosses, tinyTextData } from './tiny-run.js'

afterAll(() => removeTempDirs())

async function stepOf(
  model: string,
  opts: Omit<TrainSessionOptions, 'maxRows' | 'threads'>,
  checkpoint: boolean,
) {
  const source = openModelSource(model)
  const rand = mulberry32(5)
  const batch: TrainExample[] = [17, 6, 11].map((n) => {
    const ids = Array.from({ length: n }, () => Math.floor(rand() * source.config.vocabSize))
    return { ids, labels: ids }
  })
  const session = new TrainSession(source, {
    ...opts,
    maxRows: 64,
    threads: 2,
    gradientCheckpointing: checkpoint,
  })
  try {
    session.setDropoutSeed(12345)
    const loss = await session.step(batch)
    return {
      loss,
      grads: session.params.map((p) => session.read(p.grad)),
      activationBytes: session.activationBytes,
    }
  } finally {
    session.dispose()
  }
}

describe('gradient checkpointing', () => {
  const cases: [string, Omit<TrainSessionOptions, 'maxRows' | 'threads'>][] = [
    ['llama-tiny', { method: 'lora', lora: { rank: 4, alpha: 8, dropout: 0.1, target: ['all-linear'] } }],
    ['llama-tiny', { method: 'full' }],
    ['gpt2-tiny', { method: 'full' }],
    ['gpt2-tiny', { method: 'lora', lora: { rank: 4, alpha: 8, target: ['c_attn', 'c_fc'] } }],
  ]
  for (const [model, opts] of cases)
    it(`${model} ${opts.method}: the same gradients, bit for bit, in less memory`, async () => {
      const kept = await stepOf(golden(model), opts, false)
      const recomputed = await stepOf(golden(model), opts, true)
      expect(recomputed.loss).toEqual(kept.loss)
      expect(recomputed.grads).toEqual(kept.grads)
      expect(recomputed.activationBytes).toBeLessThan(kept.activationBytes)
    })

  it('finetune() with gradientCheckpointing trains on the same loss curve', async () => {
    const dir = makeTempDir()
    const data = tinyTextData(dir)
    const opts = {
      model: golden('llama-tiny'),
      data,
      rank: 4,
      maxSteps: 3,
      lr: 1e-2,
      batchSize: 2,
      seqLen: 32,
      threads: 2,
      dropout: 0.1,
    }
    const a = await finetune({ ...opts, out: path.join(dir, 'a') })
    const b = await finetune({ ...opts, out: path.join(dir, 'b'), gradientCheckpointing: true })
    expect(stepLosses(b.metricsFile)).toEqual(stepLosses(a.metricsFile))
  })
})
