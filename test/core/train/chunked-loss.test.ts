// The chunked loss (TrainSessionOptions.lossChunk): the head's logits a vocabulary chunk at a time,
// never the whole (tokens, vocabulary) at once. The same loss and gradients as the whole logits (up
// to the order of float sums) for LoRA, full fine-tuning (the head's gradient written a row block
// at a time, GPT-2's tied one beside the embedding's), and QLoRA over a quantized head; less
// activation memory; a head with its own LoRA branch keeps the whole logits.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { finetune } from '../../../src/core/train/finetune.js'
import {
  autoLossChunk,
  TrainSession,
  type TrainSessionOptions,
} from '../../../src/core/train/train-session.js'
import type { TrainExample } from '../../../src/core/train/types.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'
import { mulberry32 } from '../../helpers/numbers.js'
import { stepLosses, tinyTextData } from './tiny-run.js'

afterAll(() => removeTempDirs())

type Opts = Omit<TrainSessionOptions, 'maxRows' | 'threads'>

async function stepOf(model: string, opts: Opts) {
  const source = openModelSource(model)
  const rand = mulberry32(7)
  const batch: TrainExample[] = [19, 5, 12].map((n) => {
    const ids = Array.from({ length: n }, () => Math.floor(rand() * source.config.vocabSize))
    // Some ignored labels, as a prompt's would be.
    return { ids, labels: ids.map((id, i) => (i % 4 === 1 ? -100 : id)) }
  })
  const session = new TrainSession(source, { ...opts, maxRows: 64, threads: 2 })
  try {
    const loss = await session.step(batch)
    return {
      loss,
      grads: new Map(session.params.map((p) => [p.name, session.read(p.grad)])),
      activationBytes: session.activationBytes,
    }
  } finally {
    session.dispose()
  }
}

/** ‖a − b‖ / ‖b‖ */
function relError(a: Float32Array, b: Float32Array): number {
  let num = 0
  let den = 0
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2
    den += b[i] ** 2
  }
  return Math.sqrt(num / Math.max(den, 1e-30))
}

let q8: string | undefined
function q8Gguf(): string {
  if (q8 === undefined) {
    q8 = path.join(makeTempDir(), 'llama-tiny-q8_0.gguf')
    exportGguf(golden('llama-tiny'), q8, { dtype: 'q8_0' })
  }
  return q8
}

describe('chunked cross-entropy', () => {
  const lora = (target: string[]): Opts => ({ method: 'lora', lora: { rank: 4, alpha: 8, target } })
  const cases: [string, () => string, Opts, number][] = [
    ['llama-tiny LoRA', () => golden('llama-tiny'), lora(['all-linear']), 64],
    ['llama-tiny full', () => golden('llama-tiny'), { method: 'full' }, 100],
    ['gpt2-tiny full (tied head)', () => golden('gpt2-tiny'), { method: 'full' }, 37],
    ['gpt2-tiny LoRA', () => golden('gpt2-tiny'), lora(['c_attn', 'c_fc']), 128],
    ['llama-tiny QLoRA over Q8_0', q8Gguf, lora(['q_proj', 'v_proj']), 96],
  ]
  for (const [what, model, opts, chunk] of cases)
    it(`${what}: the loss and gradients of the whole logits, in less memory (chunks of ${chunk})`, async () => {
      const whole = await stepOf(model(), opts)
      const chunked = await stepOf(model(), { ...opts, lossChunk: chunk })
      expect(chunked.loss.tokens).toBe(whole.loss.tokens)
      expect(Math.abs(chunked.loss.lossSum - whole.loss.lossSum)).toBeLessThan(1e-5 * whole.loss.lossSum)
      expect([...chunked.grads.keys()]).toEqual([...whole.grads.keys()])
      for (const [name, g] of whole.grads)
        expect(relError(chunked.grads.get(name) as Float32Array, g), name).toBeLessThan(1e-5)
      expect(chunked.activationBytes).toBeLessThan(whole.activationBytes)
    })

  it('a head with a LoRA branch of its own keeps the whole logits', async () => {
    const opts = lora(['q_proj', 'lm_head'])
    const whole = await stepOf(golden('llama-tiny'), opts)
    const chunked = await stepOf(golden('llama-tiny'), { ...opts, lossChunk: 64 })
    expect(chunked.loss).toEqual(whole.loss)
    expect(chunked.activationBytes).toBe(whole.activationBytes)
  })

  it('finetune() trains on the same loss curve with lossChunk; kiln chunks on its own past 256 MiB of logits', async () => {
    const dir = makeTempDir()
    const data = tinyTextData(dir)
    const opts = {
      model: golden('llama-tiny'),
      data,
      method: 'full' as const,
      maxSteps: 3,
      lr: 1e-3,
      batchSize: 2,
      seqLen: 32,
      threads: 2,
    }
    const losses = async (name: string, lossChunk: number) =>
      stepLosses((await finetune({ ...opts, out: path.join(dir, name), lossChunk })).metricsFile)
    const whole = await losses('whole', 0)
    const chunked = await losses('chunked', 100)
    expect(chunked).toHaveLength(3)
    for (let i = 0; i < 3; i++) expect(Math.abs(chunked[i] - whole[i])).toBeLessThan(1e-5 * whole[i])
    await expect(finetune({ ...opts, out: path.join(dir, 'bad'), lossChunk: -1 })).rejects.toThrow(
      /must be an integer ≥ 0/,
    )
    // 4 × 256 tokens of a 32k vocabulary: 125 MiB of logits, whole; 2048 tokens of Llama 3's 128,256: chunks of 64 MiB.
    expect(autoLossChunk(1024, 32000)).toBe(0)
    expect(autoLossChunk(2048, 128256)).toBe(8192)
    expect(autoLossChunk(1 << 20, 128256)).toBe(64)
    // With gradient checkpointing, chunks of 16 MiB whenever the logits are larger.
    expect(autoLossChunk(1024, 32000, true)).toBe(4096)
    expect(autoLossChunk(64, 32000, true)).toBe(0)
  })
})
