// A loaded encoder (BERT, RoBERTa, XLM-RoBERTa, DistilBERT): config, tokenizer, mapped weights and
// one native graph per output it has been asked for (hidden state, pooler, head logits). Inputs
// run as ragged rows — whole sequences laid end to end, no padding — packed into steps of at most
// `batchTokens` rows, one native call per step.
import { FormatError, InputError, KilnError, option, UsageError } from '../errors.js'
import { openCheckpoint } from '../formats/safetensors.js'
import type { EncoderOutput } from '../models/bert/model.js'
import type { EncoderConfig } from '../models/config.js'
import { encoderFamily, loadEncoderConfig } from '../models/registry.js'
import { type ComputeDType, HF_LAYOUT, WeightSet, type WeightView } from '../models/weights.js'
import { type NativeGraph, native } from '../native.js'
import { Tokenizer } from '../tokenizer/index.js'
import { refuseEscapingLinks } from '../util/folder-links.js'
import { GraphBuilder } from './graph-builder.js'

export type { EncoderOutput }

export interface EncoderLoadOptions {
  /** Compute threads; default: the number of cores. */
  threads?: number
  /** Token rows per native step (several sequences packed together); default 2048. */
  batchTokens?: number
  /** 'ref' runs the plain reference kernels (slow; for checking the fast ones). */
  backend?: 'cpu' | 'ref'
  /** Weight dtype to compute in: 'auto' (default) runs each weight as stored. */
  dtype?: ComputeDType
}

/** One sequence: token ids, with the token type of each (BERT's segments; default all 0). */
export interface EncoderInput {
  ids: readonly number[]
  typeIds?: readonly number[]
}

/** Which rows of each input come back: all, the first ([CLS] / <s>), or a list per input. */
export type RowSelection = 'all' | 'first' | readonly (readonly number[])[]

const DEFAULT_BATCH_TOKENS = 2048

export class EncoderModel {
  readonly config: EncoderConfig
  readonly tokenizer: Tokenizer
  readonly dir: string
  readonly threads: number
  readonly loadMs: number
  private readonly weights: Map<string, WeightView>
  private readonly graphs = new Map<EncoderOutput, { graph: NativeGraph; rows: number }>()
  private readonly batchTokens: number
  private readonly backend: 'cpu' | 'ref'
  private readonly dtype: ComputeDType
  private queue: Promise<unknown> = Promise.resolve()
  private disposed = false

  constructor(dir: string, opts: EncoderLoadOptions = {}) {
    const t0 = performance.now()
    const threads = opts.threads ?? native().cpuInfo().hardwareThreads
    if (!Number.isInteger(threads) || threads < 1)
      throw new UsageError(`${option('threads')} must be an integer ≥ 1 (got ${threads})`)
    this.threads = threads
    this.batchTokens = opts.batchTokens ?? DEFAULT_BATCH_TOKENS
    if (!Number.isInteger(this.batchTokens) || this.batchTokens < 1)
      throw new UsageError(`${option('batchTokens')} must be an integer ≥ 1 (got ${this.batchTokens})`)
    this.backend = opts.backend ?? 'cpu'
    this.dtype = opts.dtype ?? 'auto'
    this.dir = dir
    // A folder from elsewhere (a clone, an archive) may link out of itself: nothing outside is read.
    refuseEscapingLinks(dir)
    this.config = loadEncoderConfig(dir)
    this.tokenizer = Tokenizer.fromFolder(dir)
    this.weights = openCheckpoint(dir)
    this.graph('hidden', 1) // builds and checks the encoder now: bad weights fail at load
    this.loadMs = performance.now() - t0
  }

  /** Longest input, in tokens special tokens included, the model takes. */
  get maxLength(): number {
    return this.config.maxPositions
  }

  /** Columns of each returned row for `output`: C, or the head's labels / vocabulary. */
  outCols(output: EncoderOutput): number {
    return this.graph(output, 1).graph.info().outCols
  }

  /**
   * Runs the encoder over `inputs` and returns, for each, its selected rows of `output`
   * (rows × cols, row-major). Calls queue: one runs at a time on this model.
   */
  forward(
    inputs: readonly EncoderInput[],
    output: EncoderOutput,
    rows: RowSelection = 'all',
  ): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.forwardNow(inputs, output, rows))
    this.queue = run.catch(() => undefined)
    return run
  }

  dispose(): void {
    this.disposed = true
    for (const { graph } of this.graphs.values()) graph.dispose()
    this.graphs.clear()
  }

  private selected(rows: RowSelection, i: number, len: number): readonly number[] {
    if (rows === 'all') return Array.from({ length: len }, (_, j) => j)
    if (rows === 'first') return [0]
    const list = rows[i]
    for (const r of list)
      if (!Number.isInteger(r) || r < 0 || r >= len)
        throw new InputError(`input ${i}: row ${r} is outside its ${len} tokens`)
    return list
  }

  private check(inputs: readonly EncoderInput[], rows: RowSelection): void {
    if (rows !== 'all' && rows !== 'first' && rows.length !== inputs.length)
      throw new InputError(`rows: ${rows.length} lists for ${inputs.length} inputs`)
    inputs.forEach((input, i) => {
      const n = input.ids.length
      if (n === 0) throw new InputError(`input ${i} has no tokens`)
      if (n > this.maxLength)
        throw new InputError(
          `input ${i} has ${n} tokens; this model takes at most ${this.maxLength} (truncate it)`,
        )
      if (input.typeIds && input.typeIds.length !== n)
        throw new InputError(`input ${i}: ${input.typeIds.length} token types for ${n} tokens`)
    })
  }

  private async forwardNow(
    inputs: readonly EncoderInput[],
    output: EncoderOutput,
    rows: RowSelection,
  ): Promise<Float32Array[]> {
    this.check(inputs, rows)
    const longest = inputs.reduce((m, x) => Math.max(m, x.ids.length), 0)
    const { graph, rows: maxRows } = this.graph(output, Math.max(this.batchTokens, longest))
    const cols = graph.info().outCols
    const results: Float32Array[] = new Array(inputs.length)
    let i = 0
    while (i < inputs.length) {
      // Pack whole sequences into one step while they fit.
      let tokens = 0
      let end = i
      while (end < inputs.length && tokens + inputs[end].ids.length <= maxRows)
        tokens += inputs[end++].ids.length
      await this.step(graph, inputs, i, end, tokens, rows, cols, results)
      i = end
    }
    return results
  }

  private async step(
    graph: NativeGraph,
    inputs: readonly EncoderInput[],
    from: number,
    to: number,
    N: number,
    rows: RowSelection,
    cols: number,
    results: Float32Array[],
  ): Promise<void> {
    const tokens = new Int32Array(N)
    const pos = new Int32Array(N)
    const slots = new Int32Array(N)
    const types = new Int32Array(N)
    const out: number[] = []
    const counts: number[] = []
    let at = 0
    for (let i = from; i < to; i++) {
      const { ids, typeIds } = inputs[i]
      for (let j = 0; j < ids.length; j++) {
        tokens[at + j] = ids[j]
        pos[at + j] = j
        slots[at + j] = i - from
        types[at + j] = typeIds ? typeIds[j] : 0
      }
      const sel = this.selected(rows, i, ids.length)
      for (const r of sel) out.push(at + r)
      counts.push(sel.length)
      at += ids.length
    }
    const withTypes = this.config.typeVocabSize > 0 ? types : undefined
    let values: Float32Array
    try {
      values = await graph.runAsync(tokens, pos, slots, Int32Array.from(out), this.threads, withTypes)
    } catch (e) {
      throw new InputError((e as Error).message)
    }
    let offset = 0
    counts.forEach((count, k) => {
      results[from + k] = values.slice(offset * cols, (offset + count) * cols)
      offset += count
    })
  }

  /** The graph of `output` with room for at least `rows` token rows, built on first use. */
  private graph(output: EncoderOutput, rows: number): { graph: NativeGraph; rows: number } {
    if (this.disposed) throw new KilnError('E_DISPOSED', 'model was disposed')
    const known = this.graphs.get(output)
    if (known && known.rows >= rows) return known
    const maxRows = Math.max(rows, known?.rows ?? 0, this.batchTokens)
    const g = new GraphBuilder({
      maxRows,
      maxOutRows: maxRows,
      contextLength: 0,
      slots: 1,
      wholeSequences: true,
    })
    const w = new WeightSet(this.weights, g, HF_LAYOUT, this.dtype)
    const result = encoderFamily(this.config.modelType).build(this.config, g, w, output)
    let graph: NativeGraph
    try {
      graph = new (native().Graph)(g.build(result, this.backend))
    } catch (e) {
      throw new FormatError(`${this.dir}: ${(e as Error).message}`)
    }
    known?.graph.dispose()
    const entry = { graph, rows: maxRows }
    this.graphs.set(output, entry)
    return entry
  }
}

/** Loads an encoder from a Hugging Face model folder (config.json, safetensors, tokenizer.json). */
export function loadEncoder(dir: string, opts: EncoderLoadOptions = {}): EncoderModel {
  return new EncoderModel(dir, opts)
}
