// Continuous batching: every forward step packs the decode rows of running sequences with prefill
// rows of admitted ones (the graph takes mixed ragged rows), admits waiting requests as soon as a
// slot and KV blocks are free, and retires finished or cancelled sequences at once. The KV cache is
// a pool of blocks (kv-blocks.ts, sequence-kv.ts) that sequences take as they grow; when it runs
// short, the newest running sequence is preempted (its blocks freed, recomputed later). Prompts that start with
// cached full blocks take them instead of recomputing them. The engine is batch-invariant and a
// position's keys and values depend only on the tokens up to it, so a sequence's tokens do not
// depend on what ran beside it, how its prompt was chunked, or whether its prefix came from the
// cache. generateMany is a client of it too.
import { createConstraint } from '../constrain/index.js'
import { InputError, option, UsageError } from '../errors.js'
import type { GenerateOptions } from './generate.js'
import { resolveGenerateOptions } from './generate-options.js'
import type { Model } from './model.js'
import { Sampler } from './sampling.js'
import {
  QueueFullError,
  SchedulerClosedError,
  type SchedulerOptions,
  type SchedulerStats,
  type StepInfo,
  type SubmitOptions,
} from './scheduler-types.js'
import { CancelledError, Sequence } from './sequence.js'
import { SequenceKv } from './sequence-kv.js'

export * from './scheduler-types.js'

/** Most logits floats the scheduler keeps one array for (16 MB): a decode step of 32 sequences at a 128K vocabulary. */
const REUSED_LOGITS = 4 * 1024 * 1024

export class Scheduler {
  readonly maxSeqs: number
  readonly contextLength: number
  readonly maxQueue: number
  /** Called after every step (metrics). */
  onStep?: (info: StepInfo) => void
  private readonly waiting: Sequence[] = []
  private readonly running: Sequence[] = []
  private readonly freeSlots: number[]
  private release!: () => void
  private readonly released: Promise<void>
  private loop?: Promise<void>
  private accepting = true
  private stepping = false
  private closed = false
  private decodeCursor = 0
  // The steps' logits, one array reused (grown as needed, up to REUSED_LOGITS floats; a bigger
  // step, scoring a long prompt, gets an array of its own): each step's rows are read before the
  // next step runs (sampling, prompt scores)
  private logits = new Float32Array(0)
  private idle: (() => void)[] = []
  private totals = {
    promptTokens: 0,
    generationTokens: 0,
    steps: 0,
    prefixQueries: 0,
    prefixHits: 0,
    preemptions: 0,
  }
  private readonly kv: SequenceKv
  private readonly blocksPerSlot: number
  private readonly tableSlots: number

  constructor(
    private readonly model: Model,
    opts: SchedulerOptions = {},
  ) {
    const maxSeqs = opts.maxSeqs ?? 1
    if (!Number.isInteger(maxSeqs) || maxSeqs < 1)
      throw new UsageError(`${option('maxSeqs')} must be an integer ≥ 1 (got ${maxSeqs})`)
    const maxQueue = opts.maxQueue ?? Number.POSITIVE_INFINITY
    if (!(maxQueue === Number.POSITIVE_INFINITY || (Number.isInteger(maxQueue) && maxQueue >= 0)))
      throw new UsageError(`${option('maxQueue')} must be an integer ≥ 0 (got ${maxQueue})`)
    const context = opts.contextLength ?? model.contextLength
    if (!Number.isInteger(context) || context < 2)
      throw new UsageError(`${option('contextLength')} must be an integer ≥ 2 (got ${context})`)
    const kvBlocks = kvPoolBlocks(model, opts)
    const release = model.claim()
    this.released = new Promise((res) => {
      this.release = () => {
        release()
        res()
      }
    })
    try {
      model.ensureGraph(maxSeqs, context, kvBlocks)
    } catch (e) {
      this.release()
      throw e
    }
    const kv = model.kv
    // The pool: the blocks asked for (the graph may hold more), else all of the graph's.
    const poolSize = kvBlocks ?? kv.kvBlocks
    const perContext = Math.ceil(context / kv.blockSize)
    if (poolSize < perContext) {
      this.release()
      const bytes = perContext * model.kvBytesPerBlock
      throw new UsageError(
        opts.kvMemory === undefined
          ? `${option('kvBlocks')} must hold at least one whole context: ${perContext} blocks of ${kv.blockSize} positions (got ${poolSize})`
          : `${option('kvMemory')} must hold at least one whole context: ${perContext} blocks of ${kv.blockSize} positions, ${bytes} bytes (got ${opts.kvMemory})`,
      )
    }
    this.blocksPerSlot = kv.blocksPerSlot
    this.tableSlots = kv.slots // the graph may have more slots than this scheduler uses
    this.kv = new SequenceKv(poolSize, kv.blockSize, opts.prefixCache ?? true)
    this.maxSeqs = maxSeqs
    this.maxQueue = maxQueue
    // (The graph may hold longer slots: it only grows.)
    this.contextLength = context
    this.freeSlots = Array.from({ length: maxSeqs }, (_, i) => maxSeqs - 1 - i)
  }

  get stats(): SchedulerStats {
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      slots: this.maxSeqs,
      contextLength: this.contextLength,
      kvUsage: this.kv.pool.used / this.kv.pool.size,
      kvBlocks: this.kv.pool.size,
      blockSize: this.kv.blockSize,
      cachedBlocks: this.kv.pool.cachedIdle,
      ...this.totals,
    }
  }

  /**
   * Queues one prompt (text, encoded with the model's tokenizer, or token ids). Bad options throw a
   * UsageError and a prompt that does not fit an InputError, before anything is queued.
   */
  submit(prompt: string | number[], options: GenerateOptions = {}, submit: SubmitOptions = {}): Sequence {
    if (!this.accepting) throw new SchedulerClosedError()
    const o = resolveGenerateOptions(this.model, options)
    const ids = this.encode(prompt, o.addSpecialTokens ?? true, submit.index)
    // The queue is what waits beyond the free slots (a request submitted to an idle slot waits only
    // for the next step).
    const queued = this.waiting.length - this.freeSlots.length
    if (queued >= this.maxQueue) throw new QueueFullError(Math.max(0, queued))
    const index = submit.index ?? 0
    const seed = ((o.seed ?? (Math.random() * 2 ** 32) >>> 0) + index) >>> 0
    const eos = o.eosTokenIds ?? this.model.generation.eosTokenIds
    const seq = new Sequence(
      ids,
      index,
      new Sampler(o, ids, seed),
      {
        maxNewTokens: o.maxNewTokens,
        minNewTokens: o.minNewTokens,
        eos,
        stops: o.stop ?? [],
      },
      this.model.tokenizer,
      this.contextLength,
      createConstraint(o.responseFormat, this.model.tokenizer, eos),
    )
    seq.adapter = this.model.adapterTag(o.adapter)
    if (o.promptLogprobs !== undefined) {
      seq.promptLogprobs = [null]
      seq.promptTop = o.promptLogprobs
    }
    if (submit.signal) {
      if (submit.signal.aborted) {
        seq.fail(new CancelledError())
        return seq
      }
      submit.signal.addEventListener('abort', () => this.cancel(seq), { once: true })
    }
    this.waiting.push(seq)
    this.kick()
    return seq
  }

  /** Stops accepting requests; resolves once every queued and running sequence has finished. */
  drain(): Promise<void> {
    this.accepting = false
    if (this.running.length === 0 && this.waiting.length === 0) return Promise.resolve()
    return new Promise((res) => this.idle.push(res))
  }

  /**
   * Cancels every sequence and gives the model back: at once, or when the step in flight returns
   * (the promise resolves then; dispose the model only after it).
   */
  close(): Promise<void> {
    if (this.closed) return this.released
    this.accepting = false
    this.closed = true
    for (const s of [...this.waiting, ...this.running]) {
      s.cancelled = true
      s.fail(new CancelledError('the scheduler was closed'))
    }
    this.waiting.length = 0
    this.running.length = 0
    // A step in flight still uses the graph: the loop gives the model back when it returns.
    if (!this.stepping) this.release()
    this.settleIdle()
    return this.released
  }

  private encode(prompt: string | number[], addSpecial: boolean, index?: number): number[] {
    const V = this.model.config.vocabSize
    const ids =
      typeof prompt === 'string'
        ? this.model.tokenizer.encode(prompt, { addSpecialTokens: addSpecial })
        : [...prompt]
    const which = index === undefined ? 'prompt' : `prompt ${index + 1}`
    if (ids.length === 0) throw new InputError(`${which} is empty (no tokens)`)
    for (const id of ids)
      if (!(Number.isInteger(id) && id >= 0 && id < V))
        throw new InputError(`token id ${id} is outside the vocabulary (0..${V - 1})`)
    if (ids.length >= this.contextLength)
      throw new InputError(
        `${which} has ${ids.length} tokens; the context is ${this.contextLength} positions (prompt and new tokens)`,
      )
    return ids
  }

  private cancel(seq: Sequence): void {
    const w = this.waiting.indexOf(seq)
    if (w >= 0) {
      this.waiting.splice(w, 1)
      seq.fail(new CancelledError())
      this.settleIdle()
    } else if (seq.slot >= 0 && !seq.finish) seq.cancelled = true
  }

  // Runs the loop on a later tick, so that prompts submitted together start together.
  private kick(): void {
    if (this.loop || this.closed) return
    this.loop = new Promise<void>((res) => setImmediate(res))
      .then(() => this.run())
      .finally(() => {
        this.loop = undefined
        if (this.closed) this.release()
        else if (this.waiting.length || this.running.length) this.kick()
      })
  }

  // Admits waiting sequences in order while a slot is free and the pool has the blocks their
  // known tokens need (after the prefix cache's share), plus one to grow into.
  private admit(): void {
    while (this.waiting.length && this.freeSlots.length) {
      const seq = this.waiting[0]
      // A prompt still to be scored needs the logits of the positions the cache would skip.
      const lookup = this.kv.prefixCache && !seq.scoringPrompt
      const hits = lookup ? this.kv.takePrefix(seq) : []
      const need = this.kv.blocksFor(seq.length + 1) - hits.length
      // Each running sequence keeps one block in reserve to grow into. Alone, a sequence always
      // fits: the pool holds at least one whole context.
      if (this.running.length && need > this.kv.pool.available - this.running.length) {
        for (const b of hits) this.kv.pool.release(b)
        return // wait for running sequences to free blocks
      }
      this.waiting.shift()
      seq.slot = this.freeSlots.pop() as number
      seq.blocks = hits
      seq.computed = hits.length * this.kv.blockSize
      if (seq.admittedAt === 0) {
        seq.admittedAt = performance.now()
        this.totals.promptTokens += seq.prompt.length
        if (lookup) {
          this.totals.prefixQueries += seq.prompt.length
          this.totals.prefixHits += seq.computed
        }
      }
      this.running.push(seq)
      if (seq.finishIfNothingToGenerate()) this.retire(seq)
    }
  }

  // Frees a sequence's slot and blocks (cached full blocks stay in the pool, idle).
  private unseat(seq: Sequence): void {
    this.running.splice(this.running.indexOf(seq), 1)
    this.freeSlots.push(seq.slot)
    seq.slot = -1
    this.kv.release(seq)
  }

  private retire(seq: Sequence): void {
    this.unseat(seq)
    if (seq.cancelled) seq.fail(new CancelledError())
    else seq.complete()
  }

  // Out of blocks: the newest running sequence goes back to the head of the queue, to be
  // recomputed (prompt and tokens so far) when blocks free up.
  private preempt(): Sequence {
    const victim = this.running[this.running.length - 1]
    this.unseat(victim)
    this.waiting.unshift(victim)
    this.totals.preemptions++
    return victim
  }

  private settleIdle(): void {
    if (this.running.length || this.waiting.length) return
    for (const res of this.idle.splice(0)) res()
  }

  // The rows of one step: for each running sequence, positions computed .. length-1 (one for a
  // decoding sequence, a chunk for a prefilling one), decode first, within the step's row budget.
  private planStep(): { seqs: Sequence[]; rows: number[]; decodeRows: number } {
    const budget = this.model.maxRows
    const decoding = this.running.filter((s) => s.length - s.computed === 1)
    const prefilling = this.running.filter((s) => s.length - s.computed > 1)
    const order: Sequence[] = []
    if (decoding.length <= budget) order.push(...decoding)
    else for (let i = 0; i < budget; i++) order.push(decoding[(this.decodeCursor + i) % decoding.length])
    this.decodeCursor = (this.decodeCursor + Math.min(budget, decoding.length)) % Math.max(1, decoding.length)
    order.push(...prefilling)
    const seqs: Sequence[] = []
    const rows: number[] = []
    let decodeRows = 0
    let used = 0
    for (const s of order) {
      if (used >= budget) break
      if (s.slot < 0) continue // preempted while planning
      const count = Math.min(s.length - s.computed, budget - used)
      while (!this.kv.grow(s, s.computed + count - 1)) {
        if (this.preempt() === s) break
      }
      if (s.slot < 0) continue
      seqs.push(s)
      rows.push(count)
      used += count
    }
    // A sequence planned early may have been preempted for a later one's blocks.
    const kept = seqs.map((_, i) => i).filter((i) => seqs[i].slot >= 0)
    for (const i of kept) if (seqs[i].length - seqs[i].computed === 1) decodeRows++
    return { seqs: kept.map((i) => seqs[i]), rows: kept.map((i) => rows[i]), decodeRows }
  }

  private async run(): Promise<void> {
    const V = this.model.config.vocabSize
    const MB = this.blocksPerSlot
    for (;;) {
      for (const s of this.running.filter((x) => x.cancelled)) this.retire(s)
      if (this.closed) return
      this.admit()
      if (this.running.length === 0) {
        this.settleIdle()
        return
      }
      const plan = this.planStep()
      const tokens: number[] = []
      const positions: number[] = []
      const slots: number[] = []
      const adapters: number[] = []
      const outRows: number[] = []
      const outSeqs: Sequence[] = []
      // Logits rows that score a prompt token (promptLogprobs): after the sampling rows.
      const scoreRows: number[] = []
      const scored: { seq: Sequence; position: number }[] = []
      const table = new Int32Array(this.tableSlots * MB)
      for (const s of this.running) table.set(s.blocks, s.slot * MB)
      plan.seqs.forEach((s, i) => {
        for (let p = s.computed; p < s.computed + plan.rows[i]; p++) {
          if (p === s.length - 1) {
            outRows.push(tokens.length)
            outSeqs.push(s)
          } else if (s.scoresAt(p)) {
            scoreRows.push(tokens.length)
            scored.push({ seq: s, position: p })
          }
          tokens.push(s.tokenAt(p))
          positions.push(p)
          slots.push(s.slot)
          adapters.push(s.adapter)
        }
      })
      if (tokens.length === 0) continue
      const t0 = performance.now()
      let logits: Float32Array
      const logitsLength = (outRows.length + scoreRows.length) * V
      const reuse = logitsLength <= REUSED_LOGITS
      if (reuse && this.logits.length < logitsLength) this.logits = new Float32Array(logitsLength)
      this.stepping = true
      try {
        logits = await this.model.step(
          Int32Array.from(tokens),
          Int32Array.from(positions),
          Int32Array.from(slots),
          Int32Array.from([...outRows, ...scoreRows]),
          table,
          Int32Array.from(adapters),
          reuse ? this.logits.subarray(0, logitsLength) : undefined,
        )
      } catch (e) {
        for (const s of [...this.running]) {
          this.unseat(s)
          s.fail(e as Error)
        }
        continue
      } finally {
        this.stepping = false
      }
      if (this.closed) return
      this.totals.steps++
      this.onStep?.({
        rows: tokens.length,
        prefillRows: tokens.length - plan.decodeRows,
        decodeRows: plan.decodeRows,
        ms: performance.now() - t0,
      })
      plan.seqs.forEach((s, i) => {
        if (s.slot < 0) return // cancelled and closed while the step ran
        s.computed += plan.rows[i]
        this.kv.registerFull(s)
      })
      scored.forEach(({ seq, position }, j) => {
        const row = outRows.length + j
        if (!seq.cancelled && seq.slot >= 0)
          seq.scorePrompt(position, logits.subarray(row * V, (row + 1) * V))
      })
      outSeqs.forEach((s, j) => {
        if (s.finish || s.cancelled || s.slot < 0) return // cancelled while the step ran
        if (s.finishIfNothingToGenerate()) return // the prompt only was to be scored
        try {
          s.accept(s.sampler.choose(logits.subarray(j * V, (j + 1) * V), s.suppress(), s.allowed()))
          this.totals.generationTokens++
        } catch (e) {
          this.unseat(s) // this sequence cannot go on (its grammar found no token); the others can
          s.fail(e as Error)
        }
      })
      for (const s of outSeqs) if ((s.finish || s.cancelled) && s.slot >= 0) this.retire(s)
    }
  }
}

/** The pool size asked for, in blocks: kvBlocks, or the whole blocks kvMemory bytes hold. */
function kvPoolBlocks(model: Model, opts: SchedulerOptions): number | undefined {
  const { kvBlocks, kvMemory } = opts
  if (kvBlocks !== undefined && kvMemory !== undefined)
    throw new UsageError(`give ${option('kvBlocks')} or ${option('kvMemory')}, not both`)
  if (kvBlocks !== undefined && !(Number.isInteger(kvBlocks) && kvBlocks >= 1))
    throw new UsageError(`${option('kvBlocks')} must be an integer ≥ 1 (got ${kvBlocks})`)
  if (kvMemory === undefined) return kvBlocks
  const perBlock = model.kvBytesPerBlock
  const blocks = Math.floor(kvMemory / perBlock)
  if (!(blocks >= 1))
    throw new UsageError(
      `${option('kvMemory')} holds no KV block of this model (${perBlock} bytes each; got ${kvMemory})`,
    )
  return blocks
}
