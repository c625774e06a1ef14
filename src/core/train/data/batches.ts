// Examples into micro-batches: cut to seqLen (loadTrainData has already windowed or truncated them), shuffled per epoch by a seeded PRNG of our
// own (Math.random cannot be seeded, and a resumed run must see the same order), grouped by count
// or, with packing, by a token budget. A position (epoch, index) says where the data stands, so a
// resumed run continues with the very next example.

import { option, UsageError } from '../../errors.js'
import type { TrainExample } from '../types.js'
import { IGNORE } from './examples.js'

/** Where a run stands in its data: `index` examples of epoch `epoch`'s order are consumed. */
export interface DataPosition {
  epoch: number
  index: number
}

export interface MicroBatch<E extends TrainExample = TrainExample> {
  /** Each one its own sequence (at most seqLen tokens): no attention crosses examples. */
  examples: E[]
  /** Tokens in all the sequences. */
  tokens: number
  /** Positions the loss counts. */
  labelled: number
  /** Where this micro-batch starts, and where the data stands after it (save this one). */
  start: DataPosition
  next: DataPosition
}

export interface BatchOptions {
  /** Sequences per micro-batch (without packing), or the token budget batchSize × seqLen (with). */
  batchSize: number
  /** Longest sequence; longer examples keep their first seqLen tokens. */
  seqLen: number
  /** Fill each micro-batch up to batchSize × seqLen tokens with as many examples as fit. */
  packing?: boolean
  /** Seed of the per-epoch shuffle (default 0). */
  seed?: number
  /** Shuffle each epoch (default true); false keeps the file's order. */
  shuffle?: boolean
}

/** The seed of the eval split's shuffle: fixed, so the held-out set does not change with the run's seed. */
export const EVAL_SPLIT_SEED = 0x5eed

/** The first seqLen tokens of `example` (the same object when it is not longer). */
export function truncate<E extends TrainExample>(example: E, seqLen: number): E {
  if (example.ids.length <= seqLen) return example
  return { ...example, ids: example.ids.slice(0, seqLen), labels: example.labels.slice(0, seqLen) }
}

/** Positions of `example` the loss counts. */
export function countLabelled(example: TrainExample): number {
  let n = 0
  for (const l of example.labels) if (l !== IGNORE) n++
  return n
}

/** mulberry32: a 32-bit PRNG, small and good enough to shuffle; numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** murmur3's finaliser: nearby inputs (epoch 1, 2, 3) give unrelated seeds. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** A permutation of 0…n-1 that depends only on (seed, epoch): Fisher–Yates over mulberry32. */
export function shuffledOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  // The seed's high bits count too (seed 1 and 2^32 + 1 differ).
  const hi = Math.floor(seed / 4294967296)
  const rand = mulberry32(fmix32(fmix32(seed >>> 0) ^ fmix32(hi + 0x9e3779b9) ^ fmix32(epoch + 0x7f4a7c15)))
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = order[i]
    order[i] = order[j]
    order[j] = t
  }
  return order
}

/**
 * Holds out the last `fraction` of `items` after a shuffle with a fixed seed, for evaluation: at
 * least one item, and at least one left to train on. `what` names the items in an error.
 */
export function splitEval<T>(
  items: readonly T[],
  fraction: number,
  seed = EVAL_SPLIT_SEED,
  what = 'examples',
): { train: T[]; eval: T[] } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new UsageError(`${option('evalSplit')} must be a fraction in (0, 1), got ${fraction}`)
  }
  if (items.length < 2) {
    throw new UsageError(`${option('evalSplit')} needs at least 2 ${what}, the data has ${items.length}`)
  }
  const held = Math.min(items.length - 1, Math.max(1, Math.round(items.length * fraction)))
  const order = shuffledOrder(items.length, seed, 0)
  const cut = items.length - held
  return { train: order.slice(0, cut).map((i) => items[i]), eval: order.slice(cut).map((i) => items[i]) }
}

function positiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${option(name)} must be a positive integer, got ${value}`)
  }
}

/** The micro-batches of a data set, epoch after epoch, resumable at any position. */
export class BatchPlan<E extends TrainExample = TrainExample> {
  readonly examples: E[]
  private readonly opts: Required<BatchOptions>
  private cached?: { epoch: number; order: number[] }

  constructor(examples: readonly E[], opts: BatchOptions) {
    positiveInteger(opts.batchSize, 'batchSize')
    positiveInteger(opts.seqLen, 'seqLen')
    const seed = opts.seed ?? 0
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new UsageError(`${option('seed')} must be a non-negative integer, got ${seed}`)
    }
    if (examples.length === 0) throw new UsageError('there are no training examples to batch')
    this.examples = examples.map((e) => truncate(e, opts.seqLen))
    this.opts = { packing: false, shuffle: true, ...opts, seed }
  }

  /** Epoch `epoch`'s order of the examples (indices into `examples`). */
  order(epoch: number): number[] {
    if (this.cached?.epoch !== epoch) {
      const n = this.examples.length
      const order = this.opts.shuffle
        ? shuffledOrder(n, this.opts.seed, epoch)
        : Array.from({ length: n }, (_, i) => i)
      this.cached = { epoch, order }
    }
    return this.cached.order
  }

  /**
   * Where each micro-batch of `epoch` ends (indices into its order), grouping from `from`: a resumed
   * run groups from its saved position, which a run with the same options reaches at a boundary.
   * Packing is greedy in order: a micro-batch closes when the next example would pass the budget.
   */
  boundaries(epoch: number, from = 0): number[] {
    const n = this.examples.length
    const ends: number[] = []
    if (!this.opts.packing) {
      for (let i = from; i < n; i += this.opts.batchSize) ends.push(Math.min(i + this.opts.batchSize, n))
      return ends
    }
    const order = this.order(epoch)
    const budget = this.opts.batchSize * this.opts.seqLen
    let used = 0
    for (let i = from; i < n; i++) {
      const len = this.examples[order[i]].ids.length
      if (used > 0 && used + len > budget) {
        ends.push(i)
        used = 0
      }
      used += len
    }
    if (used > 0) ends.push(n)
    return ends
  }

  /** Micro-batches in epoch `epoch` (with packing it can differ between epochs, by their order). */
  microBatchesPerEpoch(epoch = 0): number {
    return this.boundaries(epoch).length
  }

  /** Optimizer steps in epoch `epoch`: its micro-batches by gradAccum, the last step taking what remains. */
  stepsPerEpoch(gradAccum: number, epoch = 0): number {
    positiveInteger(gradAccum, 'gradAccum')
    return Math.ceil(this.microBatchesPerEpoch(epoch) / gradAccum)
  }

  /** Optimizer steps in `epochs` epochs. */
  totalSteps(epochs: number, gradAccum: number): number {
    positiveInteger(epochs, 'epochs')
    let steps = 0
    for (let e = 0; e < epochs; e++) steps += this.stepsPerEpoch(gradAccum, e)
    return steps
  }

  /**
   * Micro-batches from `from` on, epoch after epoch without end (the trainer stops at its step
   * count). Each carries the position after it, to save with a checkpoint.
   */
  *batches(from: DataPosition = { epoch: 0, index: 0 }): Generator<MicroBatch<E>> {
    const n = this.examples.length
    if (
      !Number.isInteger(from.epoch) ||
      from.epoch < 0 ||
      !Number.isInteger(from.index) ||
      from.index < 0 ||
      from.index > n
    ) {
      throw new UsageError(
        `the data position (epoch ${from.epoch}, index ${from.index}) does not fit data of ${n} examples`,
      )
    }
    let { epoch, index } = from
    for (;;) {
      if (index >= n) {
        epoch++
        index = 0
      }
      const order = this.order(epoch)
      for (const end of this.boundaries(epoch, index)) {
        const examples = order.slice(index, end).map((i) => this.examples[i])
        let tokens = 0
        let labelled = 0
        for (const e of examples) {
          tokens += e.ids.length
          labelled += countLabelled(e)
        }
        const start = { epoch, index }
        index = end
        yield {
          examples,
          tokens,
          labelled,
          start,
          next: index >= n ? { epoch: epoch + 1, index: 0 } : { epoch, index },
        }
      }
    }
  }
}
