// The encoder batcher on bert-tiny: inputs submitted together share passes (up to maxInputs, one
// output per pass), each gets what the model gives it alone, and waiting inputs can be dropped
// (abort, close), refused (full queue, draining), or told apart from a bad neighbour.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type EncoderModel, loadEncoder } from '../../../src/core/runtime/encoder.js'
import { EncoderBatcher } from '../../../src/core/runtime/encoder-batcher.js'
import { QueueFullError, SchedulerClosedError } from '../../../src/core/runtime/scheduler-types.js'
import { CancelledError } from '../../../src/core/runtime/sequence.js'
import { golden, maxAbsDiff, readJson } from '../../helpers/fixtures.js'

const dir = golden('bert-tiny')
const g = readJson<{ input_ids: number[][]; attention_mask: number[][] }>(path.join(dir, 'golden.json'))
const inputs = g.input_ids.map((ids, b) => ({ ids: ids.filter((_, t) => g.attention_mask[b][t] === 1) }))
const model: EncoderModel = loadEncoder(dir, { threads: 1 })
afterAll(() => model.dispose())

async function alone(output: 'hidden' | 'logits', rows: 'all' | 'first') {
  const out: Float32Array[] = []
  for (const x of inputs) out.push((await model.forward([x], output, rows))[0])
  return out
}

describe('EncoderBatcher', () => {
  it('runs calls made together in one pass, each input getting what it gets alone', async () => {
    const b = new EncoderBatcher(model)
    const want = await alone('hidden', 'all')
    const calls = [b.submit(inputs.slice(0, 2), 'hidden', 'all'), b.submit(inputs.slice(2), 'hidden', 'all')]
    const got = await Promise.all(calls.flat())
    got.forEach((v, i) => {
      expect(v.length).toBe(want[i].length)
      expect(maxAbsDiff(v, want[i])).toBeLessThanOrEqual(1e-6)
    })
    expect(b.stats).toMatchObject({ passes: 1, running: 0, waiting: 0 })
    expect(b.stats.promptTokens).toBe(inputs.reduce((n, x) => n + x.ids.length, 0))
  })

  it('takes at most maxInputs per pass, and one output per pass', async () => {
    const b = new EncoderBatcher(model, { maxInputs: 2 })
    const passes: number[] = []
    b.onStep = (info) => passes.push(info.inputs)
    const logits = b.submit(inputs, 'logits', 'first')
    const hidden = b.submit(inputs.slice(0, 1), 'hidden', 'all')
    const want = await alone('logits', 'first')
    const got = await Promise.all(logits)
    got.forEach((v, i) => {
      expect(maxAbsDiff(v, want[i])).toBeLessThanOrEqual(1e-6)
    })
    expect((await hidden[0]).length).toBe(inputs[0].ids.length * 64)
    expect(passes).toEqual([2, 1, 1])
  })

  it('an aborted call drops its waiting inputs; the others run', async () => {
    const b = new EncoderBatcher(model)
    const controller = new AbortController()
    const dropped = b.submit(inputs.slice(0, 2), 'hidden', 'first', controller.signal)
    const kept = b.submit(inputs.slice(2), 'hidden', 'first')
    controller.abort()
    for (const p of dropped) await expect(p).rejects.toBeInstanceOf(CancelledError)
    await expect(kept[0]).resolves.toBeInstanceOf(Float32Array)
    expect(b.stats.passes).toBe(1)
  })

  it('refuses a call past the queue limit, but never one into an empty queue', async () => {
    const b = new EncoderBatcher(model, { maxInputs: 1, maxQueue: 1 })
    const big = b.submit(inputs, 'hidden', 'first') // 3 inputs into an empty queue
    expect(() => b.submit(inputs.slice(0, 1), 'hidden', 'first')).toThrow(QueueFullError)
    await Promise.all(big)
    const one = b.submit(inputs.slice(0, 1), 'hidden', 'first')
    const two = b.submit(inputs.slice(1, 2), 'hidden', 'first')
    await Promise.all([...one, ...two])
  })

  it('a bad input fails alone, not the inputs it shared a pass with', async () => {
    const b = new EncoderBatcher(model)
    const tooLong = { ids: Array.from({ length: model.maxLength + 1 }, () => 5) }
    const good = b.submit(inputs.slice(0, 1), 'hidden', 'first')
    const bad = b.submit([tooLong], 'hidden', 'first')
    await expect(bad[0]).rejects.toThrow(/at most 128/)
    await expect(good[0]).resolves.toBeInstanceOf(Float32Array)
  })

  it('drain finishes what was queued and refuses more; close rejects what waits', async () => {
    const b = new EncoderBatcher(model)
    const queued = b.submit(inputs, 'hidden', 'first')
    const drained = b.drain()
    expect(() => b.submit(inputs, 'hidden', 'first')).toThrow(SchedulerClosedError)
    await drained
    await Promise.all(queued)

    const c = new EncoderBatcher(model)
    const waiting = c.submit(inputs, 'hidden', 'first')
    await c.close()
    for (const p of waiting) await expect(p).rejects.toBeInstanceOf(CancelledError)
  })
})
