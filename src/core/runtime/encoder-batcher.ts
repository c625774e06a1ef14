// Shares an encoder's forward passes between concurrent callers (kiln serve's requests): inputs
// that arrive while a pass runs wait, and the next pass takes up to `maxInputs` of them at once, in
// arrival order, as ragged rows (the model packs them into steps without padding). Each input's
// result is handed back as soon as its own pass returns, so a caller with many inputs can reduce
// them (pool, score) pass by pass instead of holding every token's vector until the last one.
import { option, UsageError } from '../errors.js'
import type { EncoderInput, EncoderModel, EncoderOutput } from './encoder.js'
import { QueueFullError, SchedulerClosedError } from './scheduler-types.js'
import { CancelledError } from './sequence.js'

/** Which rows of each input come back: every token's, or the first ([CLS] / <s>). */
export type PassRows = 'all' | 'first'

export interface EncoderBatcherOptions {
  /** Inputs one forward pass takes at most (default 32). */
  maxInputs?: number
  /**
   * Inputs that may wait beyond one pass's worth; a call that would go past it throws
   * QueueFullError (default: no limit). A call into an empty queue is always taken, however large.
   */
  maxQueue?: number
}

export interface EncoderBatcherStats {
  /** Inputs in the pass that is running. */
  running: number
  waiting: number
  /** Tokens encoded so far, and the passes that did it. */
  promptTokens: number
  passes: number
}

/** One forward pass: inputs, token rows and its time. */
export interface PassInfo {
  inputs: number
  rows: number
  ms: number
}

interface Item {
  input: EncoderInput
  output: EncoderOutput
  rows: PassRows
  resolve(out: Float32Array): void
  reject(e: unknown): void
}

export class EncoderBatcher {
  readonly maxInputs: number
  readonly maxQueue: number
  /** After each pass (kiln serve's metrics). */
  onStep?: (info: PassInfo) => void
  private waiting: Item[] = []
  private running = 0
  private readonly totals = { promptTokens: 0, passes: 0 }
  private accepting = true
  private closed = false
  private loop?: Promise<void>
  private idle: (() => void)[] = []

  constructor(
    readonly model: EncoderModel,
    opts: EncoderBatcherOptions = {},
  ) {
    this.maxInputs = opts.maxInputs ?? 32
    this.maxQueue = opts.maxQueue ?? Number.POSITIVE_INFINITY
    if (!Number.isInteger(this.maxInputs) || this.maxInputs < 1)
      throw new UsageError(`${option('maxInputs')} must be an integer ≥ 1 (got ${this.maxInputs})`)
    if (!(this.maxQueue >= 0))
      throw new UsageError(`${option('maxQueue')} must be ≥ 0 (got ${this.maxQueue})`)
  }

  get stats(): EncoderBatcherStats {
    return { running: this.running, waiting: this.waiting.length, ...this.totals }
  }

  /**
   * Queues `inputs` for `output` and returns a promise per input, in order. All are queued or none:
   * draining or closed throws SchedulerClosedError, a full queue QueueFullError. `signal` drops the
   * inputs still waiting (they reject with CancelledError); a pass already running finishes.
   */
  submit(
    inputs: readonly EncoderInput[],
    output: EncoderOutput,
    rows: PassRows,
    signal?: AbortSignal,
  ): Promise<Float32Array>[] {
    if (!this.accepting) throw new SchedulerClosedError()
    const queued = this.waiting.length
    if (queued > 0 && queued + inputs.length > this.maxInputs + this.maxQueue)
      throw new QueueFullError(queued)
    const items: Item[] = []
    const promises = inputs.map((input) => {
      const p = new Promise<Float32Array>((resolve, reject) => {
        items.push({ input, output, rows, resolve, reject })
      })
      // The caller may stop at its first failure; the others' rejections are then nobody's.
      p.catch(() => {})
      return p
    })
    if (signal?.aborted) {
      for (const it of items) it.reject(new CancelledError())
      return promises
    }
    signal?.addEventListener(
      'abort',
      () => {
        const mine = new Set(items)
        const dropped = this.waiting.filter((it) => mine.has(it))
        if (dropped.length === 0) return
        this.waiting = this.waiting.filter((it) => !mine.has(it))
        for (const it of dropped) it.reject(new CancelledError())
        if (this.waiting.length === 0 && !this.loop) this.settleIdle()
      },
      { once: true },
    )
    this.waiting.push(...items)
    this.kick()
    return promises
  }

  /** Stops taking inputs; resolves once every queued one has been encoded. */
  drain(): Promise<void> {
    this.accepting = false
    if (!this.loop && this.waiting.length === 0) return Promise.resolve()
    return new Promise((res) => this.idle.push(res))
  }

  /**
   * Rejects every waiting input and takes no more; resolves once the pass in flight (if any) has
   * returned, after which the model may be disposed.
   */
  close(): Promise<void> {
    this.accepting = false
    this.closed = true
    for (const it of this.waiting.splice(0)) it.reject(new CancelledError('the encoder was closed'))
    this.settleIdle()
    return this.loop ?? Promise.resolve()
  }

  private kick(): void {
    if (this.loop || this.closed) return
    // From the next microtask: inputs submitted together (in one tick) share the first pass.
    this.loop = Promise.resolve()
      .then(() => this.run())
      .finally(() => {
        this.loop = undefined
        if (this.waiting.length > 0 && !this.closed) this.kick()
        else this.settleIdle()
      })
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 && !this.closed) await this.pass(this.take())
  }

  /** The oldest input and those after it that want the same output, up to maxInputs. */
  private take(): Item[] {
    const { output, rows } = this.waiting[0]
    const batch: Item[] = []
    const rest: Item[] = []
    for (const it of this.waiting)
      (batch.length < this.maxInputs && it.output === output && it.rows === rows ? batch : rest).push(it)
    this.waiting = rest
    return batch
  }

  private async pass(batch: Item[]): Promise<void> {
    const t0 = performance.now()
    this.running = batch.length
    try {
      const out = await this.model.forward(
        batch.map((b) => b.input),
        batch[0].output,
        batch[0].rows,
      )
      const rows = batch.reduce((n, b) => n + b.input.ids.length, 0)
      this.totals.promptTokens += rows
      this.totals.passes++
      this.onStep?.({ inputs: batch.length, rows, ms: performance.now() - t0 })
      batch.forEach((b, i) => {
        b.resolve(out[i])
      })
    } catch (e) {
      // One bad input must not fail the callers it shared the pass with: run them one by one.
      if (batch.length === 1) batch[0].reject(e)
      else for (const b of batch) await this.pass([b])
    } finally {
      this.running = 0
    }
  }

  private settleIdle(): void {
    if (this.loop || this.waiting.length > 0) return
    for (const res of this.idle.splice(0)) res()
  }
}
