// finetune() end to end on llama-tiny: LoRA and full runs write what PEFT and transformers read,
// the loss falls on a small repeated text, and a resumed run continues the same loss curve.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLoraAdapter } from '../../../src/core/formats/peft.js'
import { openSafetensors } from '../../../src/core/formats/safetensors.js'
import { finetune } from '../../../src/core/train/finetune.js'
import { readMetrics } from '../../../src/core/train/report/metrics-file.js'
import type { FinetuneEvent } from '../../../src/core/train/types.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'

afterAll(() => removeTempDirs())

const LINES = [
  'The license is free software and you can share it.',
  'Git is fast, and it keeps every version of a file.',
  'A small model learns the words it sees again and again.',
  'The quick brown fox jumps over the lazy dog.',
  'Free software respects the freedom of its users.',
  'Every commit records who changed what, and why.',
]

function dataFile(): string {
  const file = path.join(makeTempDir(), 'train.jsonl')
  writeFileSync(file, `${LINES.map((text) => JSON.stringify({ text })).join('\n')}\n`)
  return file
}

const BASE = {
  model: golden('llama-tiny'),
  batchSize: 2,
  seqLen: 32,
  lr: 1e-2,
  schedule: 'constant' as const,
  threads: 2,
  seed: 7,
}

describe('finetune', () => {
  it('trains a LoRA adapter that PEFT can load, with metrics and a loss curve', async () => {
    const out = path.join(makeTempDir(), 'adapter')
    const events: FinetuneEvent[] = []
    const r = await finetune(
      {
        ...BASE,
        data: dataFile(),
        out,
        method: 'lora',
        rank: 4,
        target: ['q_proj', 'v_proj', 'down_proj'],
        maxSteps: 12,
        dropout: 0.1,
        merge: true,
      },
      (e) => events.push(e),
    )
    expect(r.steps).toBe(12)
    const steps = events.filter((e) => e.type === 'step')
    expect(steps).toHaveLength(12)
    // Each epoch is 3 micro-batches: compare the first epoch's mean loss with the last one's.
    const losses = steps.map((e) => (e.type === 'step' ? e.loss : 0))
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    expect(mean(losses.slice(-3)), losses.join(' ')).toBeLessThan(mean(losses.slice(0, 3)) - 0.1)
    const adapter = readLoraAdapter(out)
    expect(adapter.rank).toBe(4)
    expect(adapter.alpha).toBe(8)
    expect([...adapter.modules.keys()].sort()).toContain('model.layers.1.mlp.down_proj')
    expect(adapter.modules.size).toBe(6)
    const config = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8'))
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0.1,
      task_type: 'CAUSAL_LM',
    })
    expect(readMetrics(r.metricsFile).filter((m) => m.type === 'step')).toHaveLength(12)
    expect(readFileSync(r.lossCurveFile, 'utf8')).toContain('<svg')
    const merged = openSafetensors(path.join(out, 'merged', 'model.safetensors'))
    expect(merged.tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(true)
    expect(existsSync(path.join(out, 'merged', 'tokenizer.json'))).toBe(true)
  })

  it('writes a full fine-tune as a model folder in the stored dtypes', async () => {
    const out = path.join(makeTempDir(), 'full')
    const r = await finetune({ ...BASE, data: dataFile(), out, method: 'full', lr: 1e-3, maxSteps: 4 })
    expect(r.finalLoss).toBeGreaterThan(0)
    const base = openSafetensors(path.join(golden('llama-tiny'), 'model.safetensors'))
    const trained = openSafetensors(path.join(out, 'model.safetensors'))
    expect([...trained.tensors.keys()].sort()).toEqual([...base.tensors.keys()].sort())
    for (const [name, v] of trained.tensors) expect(v.dtype, name).toBe(base.tensors.get(name)?.dtype)
    for (const f of ['config.json', 'tokenizer.json', 'generation_config.json'])
      expect(existsSync(path.join(out, f)), f).toBe(true)
  })

  it('evaluates held-out data without dropout, during and after training', async () => {
    const events: FinetuneEvent[] = []
    const opts = {
      ...BASE,
      data: dataFile(),
      method: 'lora' as const,
      rank: 4,
      maxSteps: 2,
      evalSplit: 0.34,
      evalEvery: 1,
    }
    const a = await finetune({ ...opts, out: path.join(makeTempDir(), 'a'), dropout: 0.5 }, (e) =>
      events.push(e),
    )
    const evals = events.filter((e) => e.type === 'eval')
    expect(evals.map((e) => e.step)).toEqual([1, 2])
    // Before any update (lr 0 at step 0 of a warmup), dropout would change the eval loss; it is off.
    const b = await finetune({
      ...opts,
      out: path.join(makeTempDir(), 'b'),
      dropout: 0,
      maxSteps: 1,
      warmup: 5,
    })
    const c = await finetune({
      ...opts,
      out: path.join(makeTempDir(), 'c'),
      dropout: 0.5,
      maxSteps: 1,
      warmup: 5,
    })
    expect(c.evalLoss).toBe(b.evalLoss)
    expect(a.evalLoss).toBeGreaterThan(0)
  })

  it('resumes a stopped run on exactly the loss curve of an uninterrupted one', async () => {
    const data = dataFile()
    const opts = {
      ...BASE,
      data,
      method: 'lora' as const,
      rank: 4,
      maxSteps: 6,
      dropout: 0.2,
      gradAccum: 2,
      saveEvery: 2,
    }
    const whole = await finetune({ ...opts, out: path.join(makeTempDir(), 'whole') })
    const out = path.join(makeTempDir(), 'stopped')
    const stop = new AbortController()
    await finetune(
      { ...opts, out },
      (e) => {
        if (e.type === 'step' && e.step === 3) stop.abort()
      },
      stop.signal,
    )
    const resumed = await finetune({ ...opts, out, resume: true })
    expect(resumed.steps).toBe(6)
    const losses = (f: string) =>
      readMetrics(f)
        .filter((m) => m.type === 'step')
        .map((m) => m.loss)
    expect(losses(resumed.metricsFile)).toEqual(losses(whole.metricsFile))
  })

  it('resumed after its last checkpoint (killed before it exited), a run adds nothing and reports the same', async () => {
    const out = path.join(makeTempDir(), 'done')
    const opts = {
      ...BASE,
      data: dataFile(),
      method: 'lora' as const,
      rank: 4,
      maxSteps: 2,
      evalSplit: 0.34,
      out,
    }
    const first = await finetune(opts)
    const metrics = readFileSync(first.metricsFile, 'utf8')
    const again = await finetune({ ...opts, resume: true })
    expect(readFileSync(again.metricsFile, 'utf8')).toBe(metrics) // no second closing evaluation
    expect(again.steps).toBe(2)
    expect(again.finalLoss).toBe(first.finalLoss)
    expect(again.evalLoss).toBe(first.evalLoss)
  })
})
