import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../../src/core/errors.js'
import {
  BatchPlan,
  type DataPosition,
  type MicroBatch,
  shuffledOrder,
  splitEval,
  truncate,
} from '../../../../src/core/train/data/index.js'
import type { TrainExample } from '../../../../src/core/train/types.js'

/** Example k has k % 7 + 1 tokens, all ids k (so a batch says which examples it holds). */
function examples(n: number): TrainExample[] {
  return Array.from({ length: n }, (_, k) => {
    const ids = Array.from({ length: (k % 7) + 1 }, () => k)
    return { ids, labels: [...ids] }
  })
}
const which = (b: MicroBatch) => b.examples.map((e) => e.ids[0])
function take(it: Iterator<MicroBatch>, n: number): MicroBatch[] {
  const out: MicroBatch[] = []
  for (let i = 0; i < n; i++) out.push(it.next().value as MicroBatch)
  return out
}

describe('shuffling', () => {
  it('is a permutation that depends only on (seed, epoch)', () => {
    const a = shuffledOrder(50, 42, 3)
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(shuffledOrder(50, 42, 3)).toEqual(a)
    expect(shuffledOrder(50, 42, 4)).not.toEqual(a)
    expect(shuffledOrder(50, 43, 3)).not.toEqual(a)
    expect(shuffledOrder(50, 2 ** 32 + 42, 3)).not.toEqual(a)
  })

  it('gives each epoch its own order, over all examples once', () => {
    const plan = new BatchPlan(examples(10), { batchSize: 3, seqLen: 8, seed: 1 })
    const batches = take(plan.batches(), 8) // 4 micro-batches an epoch: 3 + 3 + 3 + 1
    expect(batches.map((b) => b.examples.length)).toEqual([3, 3, 3, 1, 3, 3, 3, 1])
    const epoch0 = batches.slice(0, 4).flatMap(which)
    const epoch1 = batches.slice(4).flatMap(which)
    expect([...epoch0].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect([...epoch1].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(epoch1).not.toEqual(epoch0)
    expect(batches[3].next).toEqual({ epoch: 1, index: 0 })
    expect(batches[4].start).toEqual({ epoch: 1, index: 0 })
  })

  it('keeps the file order when shuffle is off', () => {
    const plan = new BatchPlan(examples(5), { batchSize: 2, seqLen: 8, shuffle: false })
    expect(take(plan.batches(), 3).map(which)).toEqual([[0, 1], [2, 3], [4]])
  })
})

describe('BatchPlan', () => {
  it('counts micro-batches and optimizer steps per epoch', () => {
    const plan = new BatchPlan(examples(10), { batchSize: 3, seqLen: 8 })
    expect(plan.microBatchesPerEpoch()).toBe(4)
    expect(plan.stepsPerEpoch(1)).toBe(4)
    expect(plan.stepsPerEpoch(2)).toBe(2)
    expect(plan.stepsPerEpoch(3)).toBe(2) // the last step takes the one micro-batch left
    expect(plan.totalSteps(3, 2)).toBe(6)
  })

  it('truncates examples to seqLen, keeping the first tokens', () => {
    const e = { ids: [1, 2, 3, 4, 5], labels: [-100, -100, 3, 4, 5] }
    expect(truncate(e, 3)).toEqual({ ids: [1, 2, 3], labels: [-100, -100, 3] })
    expect(truncate(e, 5)).toBe(e)
    const plan = new BatchPlan([e], { batchSize: 1, seqLen: 4 })
    expect(take(plan.batches(), 1)[0]).toMatchObject({ tokens: 4, labelled: 2 })
  })

  it('resumes exactly where a run stopped, across epochs', () => {
    for (const packing of [false, true]) {
      const opts = { batchSize: 2, seqLen: 7, seed: 9, packing }
      const run = take(new BatchPlan(examples(23), opts).batches(), 40)
      for (const stop of [0, 5, 11, 17, 39]) {
        const saved: DataPosition = JSON.parse(JSON.stringify(run[stop].next))
        const resumed = take(new BatchPlan(examples(23), opts).batches(saved), 40 - stop - 1)
        expect(resumed.map(which)).toEqual(run.slice(stop + 1).map(which))
        expect(resumed.map((b) => b.start)).toEqual(run.slice(stop + 1).map((b) => b.start))
      }
    }
  })

  it('resumes from a position inside a micro-batch (batchSize changed) with the next example', () => {
    const plan = new BatchPlan(examples(10), { batchSize: 4, seqLen: 8, seed: 2 })
    const order = plan.order(0)
    const [first] = take(plan.batches({ epoch: 0, index: 3 }), 1)
    expect(which(first)).toEqual(order.slice(3, 7))
    expect(first.next).toEqual({ epoch: 0, index: 7 })
    expect(() => plan.batches({ epoch: 0, index: 11 }).next()).toThrow(UsageError)
  })

  it('packs examples up to the token budget, each its own sequence', () => {
    const data = examples(40)
    const plan = new BatchPlan(data, { batchSize: 2, seqLen: 6, seed: 5, packing: true })
    const budget = 12
    const perEpoch = plan.microBatchesPerEpoch(0)
    const batches = take(plan.batches(), perEpoch)
    const order = plan.order(0)
    let index = 0
    for (const b of batches) {
      expect(b.tokens).toBeLessThanOrEqual(budget)
      expect(b.tokens).toBe(b.examples.reduce((n, e) => n + e.ids.length, 0))
      for (const e of b.examples) expect(e.ids.length).toBeLessThanOrEqual(6)
      index += b.examples.length
      // Greedy: the micro-batch closed because the next example would not fit.
      if (index < data.length) {
        const nextLen = Math.min(6, data[order[index]].ids.length)
        expect(b.tokens + nextLen).toBeGreaterThan(budget)
      }
    }
    expect(index).toBe(data.length)
    expect(batches.at(-1)?.next).toEqual({ epoch: 1, index: 0 })
    // More sequences a micro-batch than without packing, so fewer micro-batches.
    expect(perEpoch).toBeLessThan(new BatchPlan(data, { batchSize: 2, seqLen: 6 }).microBatchesPerEpoch())
  })

  it('names the option that is out of range', () => {
    const err = (() => {
      try {
        new BatchPlan(examples(3), { batchSize: 0, seqLen: 8 })
      } catch (e) {
        return e as UsageError
      }
    })()
    expect(err).toBeInstanceOf(UsageError)
    expect(err?.options).toEqual(['batchSize'])
    expect(() => new BatchPlan(examples(3), { batchSize: 1, seqLen: 1.5 })).toThrow(
      'seqLen must be a positive integer',
    )
    expect(() => new BatchPlan(examples(3), { batchSize: 1, seqLen: 8 }).stepsPerEpoch(0)).toThrow(
      'gradAccum',
    )
  })
})

describe('splitEval', () => {
  it('holds out the last fraction after a shuffle with a fixed seed', () => {
    const items = Array.from({ length: 20 }, (_, i) => i)
    const a = splitEval(items, 0.25)
    expect(a.eval).toHaveLength(5)
    expect(a.train).toHaveLength(15)
    expect([...a.train, ...a.eval].sort((x, y) => x - y)).toEqual(items)
    expect(splitEval(items, 0.25)).toEqual(a)
    expect(a.eval).not.toEqual(items.slice(15))
    // At least one held out, at least one left.
    expect(splitEval([1, 2, 3], 0.01).eval).toHaveLength(1)
    expect(splitEval([1, 2, 3], 0.99).train).toHaveLength(1)
  })

  it('refuses a fraction out of (0, 1) or too little data', () => {
    expect(() => splitEval([1, 2], 1)).toThrow('evalSplit must be a fraction in (0, 1), got 1')
    expect(() => splitEval([1], 0.5)).toThrow('evalSplit needs at least 2 examples, the data has 1')
  })
})
