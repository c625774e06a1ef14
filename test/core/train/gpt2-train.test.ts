// Training GPT-2 (LayerNorm, GELU, learned positions, the fused c_attn sliced three ways, Conv1D
// weights, the head tied to wte): every weight's gradient of gpt2-tiny against central differences
// of the loss, and a LoRA run whose adapter PEFT reads as a GPT-2 adapter (GPT2LMHeadModel's module
// names, fan_in_fan_out) and which applies at load as it merges.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLoraAdapter } from '../../../src/core/formats/peft.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { finetune } from '../../../src/core/train/finetune.js'
import { writeMergedModel } from '../../../src/core/train/outputs.js'
import { TrainSession } from '../../../src/core/train/train-session.js'
import type { TrainExample } from '../../../src/core/train/types.js'
import { golden } from '../../helpers/fixtures.js'
import { mulberry32, relError } from '../../helpers/numbers.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gpt2-train-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('GPT-2 training', () => {
  it('full fine-tuning: every weight’s gradient matches central differences of the loss', async () => {
    const source = openModelSource(golden('gpt2-tiny'))
    const V = source.config.vocabSize
    const rand = mulberry32(11)
    const seq = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * V))
    const batch: TrainExample[] = [13, 9].map((n) => {
      const ids = seq(n)
      return { ids, labels: ids }
    })
    const session = new TrainSession(source, { method: 'full', maxRows: 32, threads: 2 })
    try {
      // every checkpoint tensor is trained: wte (tied head), wpe, norms, Conv1D weights and biases
      expect(session.params.length).toBe(source.weights.size)
      const { lossSum, tokens } = await session.step(batch)
      const loss = async () => {
        const r = await session.step(batch, { forwardOnly: true })
        return r.lossSum / r.tokens
      }
      expect(Math.abs((await loss()) - lossSum / tokens)).toBeLessThan(1e-6)
      for (const p of session.params) {
        const grad = session.read(p.grad).map((g) => g / tokens)
        const w = session.read(p.id)
        // Along the gradient itself (a random direction can cancel it down to the loss's f32
        // rounding), a step of 1e-3 (of the tensor's scale past 1): small against the curvature.
        let big = 0
        let gmax = 0
        for (const x of w) big = Math.max(big, Math.abs(x))
        for (const g of grad) gmax = Math.max(gmax, Math.abs(g))
        const h = 1e-3 * Math.max(big, 1)
        const u = grad.map((g) => g / gmax)
        const plus = w.map((x, i) => x + h * u[i])
        const minus = w.map((x, i) => x - h * u[i])
        session.write(p.id, plus)
        const lp = await loss()
        session.write(p.id, minus)
        const lm = await loss()
        session.write(p.id, w)
        let analytic = 0
        for (let i = 0; i < w.length; i++) analytic += grad[i] * (plus[i] - minus[i])
        const numeric = lp - lm
        expect(
          Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic)),
          p.name,
        ).toBeLessThan(1e-2)
      }
    } finally {
      session.dispose()
    }
  })

  it('LoRA on c_attn (the family default) writes a GPT-2 PEFT adapter that applies as it merges', async () => {
    const data = path.join(tmp, 'train.jsonl')
    writeFileSync(
      data,
      ['The quick brown fox jumps over the lazy dog.', 'Every commit records who changed what, and why.']
        .map((text) => JSON.stringify({ text }))
        .join('\n'),
    )
    const out = path.join(tmp, 'gpt2-lora')
    const r = await finetune({
      model: golden('gpt2-tiny'),
      data,
      out,
      rank: 4,
      maxSteps: 6,
      lr: 1e-2,
      batchSize: 2,
      seqLen: 32,
      threads: 2,
    })
    expect(Number.isFinite(r.finalLoss)).toBe(true)
    const adapter = readLoraAdapter(out)
    expect(adapter.fanInFanOut).toBe(true)
    expect([...adapter.modules.keys()]).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.1.attn.c_attn',
    ])
    const merged = path.join(tmp, 'gpt2-merged')
    writeMergedModel(merged, openModelSource(golden('gpt2-tiny')), adapter, false)
    const ids = [5, 17, 200, 3, 99]
    const applied = loadModel(golden('gpt2-tiny'), { threads: 1, adapter: out })
    const folded = loadModel(merged, { threads: 1 })
    const base = loadModel(golden('gpt2-tiny'), { threads: 1 })
    try {
      const want = await folded.logits(ids)
      expect(relError(await applied.logits(ids), want)).toBeLessThan(1e-5)
      expect(relError(await base.logits(ids), want)).toBeGreaterThan(1e-4)
    } finally {
      applied.dispose()
      folded.dispose()
      base.dispose()
    }
  })
})
