// A loaded model: config, tokenizer, mapped weights and the native forward graph. The graph is
// rebuilt (cheaply: weights stay mapped) when a request needs more sequences or a longer context.
import { FormatError, InputError, KilnError, option, UsageError } from '../errors.js'
import { readLoraAdapter } from '../formats/peft.js'
import type { ModelConfig } from '../models/config.js'
import type { GenerationDefaults } from '../models/generation-config.js'
import { decoderFamily } from '../models/registry.js'
import { type ComputeDType, type WeightLayout, WeightSet, type WeightView } from '../models/weights.js'
import { type NativeGraph, native } from '../native.js'
import type { Tokenizer } from '../tokenizer/index.js'
import { quote } from '../util/shown.js'
import {
  type GenerateOptions,
  type GenerationEvent,
  type GenerationResult,
  generateBatch,
} from './generate.js'
import { DEFAULT_BLOCK_SIZE, GraphBuilder, type GraphLimits, kvGeometry } from './graph-builder.js'
import { applyAdapter, type GraphAdapters, LoraGraphBuilder } from './lora-graph-builder.js'
import { openModelSource } from './model-source.js'

export interface LoadOptions {
  /** Compute threads; default: the number of cores. */
  threads?: number
  /** KV cache length per sequence; default: the model's maximum, capped at 4096. */
  contextLength?: number
  /** Token rows per forward step: the prefill chunk and the most sequences decoded at once (default 256). */
  chunkSize?: number
  /** 'ref' runs the plain reference kernels (slow; for checking the fast ones). */
  backend?: 'cpu' | 'ref'
  /** Weight dtype to compute in: 'auto' (default) runs each weight as stored; else converted at load. */
  dtype?: ComputeDType
  /**
   * A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) applied at load
   * without merging: the base stays as stored and the adapter's branches run beside its matmuls.
   */
  adapter?: string
  /**
   * Named PEFT LoRA adapters, each chosen per request (GenerateOptions.adapter, the server's model
   * name) while the others and the plain base run beside it in the same batch.
   */
  adapters?: Record<string, string>
}

const COMPUTE_DTYPES: readonly ComputeDType[] = ['auto', 'f32', 'f16', 'bf16']

const DEFAULT_CHUNK = 256

export class Model {
  readonly config: ModelConfig
  readonly tokenizer: Tokenizer
  readonly generation: GenerationDefaults
  readonly threads: number
  readonly loadMs: number
  /** 'safetensors' for a Hugging Face folder, 'gguf' for a GGUF file. */
  readonly format: 'safetensors' | 'gguf'
  private readonly weights: Map<string, WeightView>
  private readonly layout: WeightLayout
  private readonly dtype: ComputeDType
  private readonly lora?: GraphAdapters
  private graph?: NativeGraph
  private limits?: GraphLimits
  private readonly backend: 'cpu' | 'ref'
  private readonly defaultContext: number
  private readonly chunk: number
  private busy = false
  private disposed = false

  /** The model folder or GGUF file it was loaded from. */
  readonly dir: string
  /** The LoRA adapter folder applied to every request, if any. */
  readonly adapter?: string
  /** The names of the adapters a request may choose (LoadOptions.adapters), in tag order. */
  readonly adapterNames: readonly string[] = []

  constructor(modelPath: string, opts: LoadOptions = {}) {
    const t0 = performance.now()
    const threads = opts.threads ?? native().cpuInfo().hardwareThreads
    if (!Number.isInteger(threads) || threads < 1)
      throw new UsageError(`${option('threads')} must be an integer ≥ 1 (got ${threads})`)
    this.threads = threads
    this.backend = opts.backend ?? 'cpu'
    this.chunk = opts.chunkSize ?? DEFAULT_CHUNK
    if (!Number.isInteger(this.chunk) || this.chunk < 1)
      throw new UsageError(`${option('chunkSize')} must be an integer ≥ 1 (got ${this.chunk})`)
    this.dtype = opts.dtype ?? 'auto'
    if (!COMPUTE_DTYPES.includes(this.dtype))
      throw new UsageError(
        `${option('dtype')} must be one of ${COMPUTE_DTYPES.join(', ')} (got ${this.dtype})`,
      )
    const source = openModelSource(modelPath)
    this.dir = source.path
    this.format = source.format
    this.config = source.config
    this.generation = source.generation
    this.tokenizer = source.tokenizer
    this.weights = source.weights
    this.layout = source.layout
    const apply = (dir: string) => applyAdapter(readLoraAdapter(dir), this.weights, this.config, this.layout)
    if (opts.adapter !== undefined && opts.adapters !== undefined)
      throw new UsageError(`${option('adapter')} and ${option('adapters')} cannot be combined`)
    if (opts.adapter !== undefined) {
      this.lora = { list: [apply(opts.adapter)], onEveryRow: true }
      this.adapter = opts.adapter
    } else if (opts.adapters !== undefined && Object.keys(opts.adapters).length > 0) {
      const named = Object.entries(opts.adapters)
      for (const [name] of named)
        if (name.trim() === '' || name !== name.trim())
          throw new UsageError(`${option('adapters')} names must be non-empty, without surrounding spaces`)
      this.lora = { list: named.map(([, dir]) => apply(dir)), onEveryRow: false }
      this.adapterNames = named.map(([name]) => name)
    }
    const ctx = opts.contextLength ?? Math.min(this.config.maxPositions, 4096)
    if (!Number.isInteger(ctx) || ctx < 1)
      throw new UsageError(`${option('contextLength')} must be an integer ≥ 1 (got ${ctx})`)
    this.defaultContext = Math.min(ctx, this.config.maxPositions)
    this.ensureGraph(1, this.defaultContext) // builds and checks the whole graph now: bad weights fail at load
    this.loadMs = performance.now() - t0
  }

  get contextLength(): number {
    return this.limits?.contextLength ?? this.defaultContext
  }

  /** Bytes one KV block takes: keys and values of every layer for blockSize positions (the cache is f32). */
  get kvBytesPerBlock(): number {
    const c = this.config
    return c.numLayers * 2 * c.numKvHeads * DEFAULT_BLOCK_SIZE * c.headDim * Float32Array.BYTES_PER_ELEMENT
  }

  /** The paged KV cache of the current graph: slots, positions per block, table entries per slot, blocks. */
  get kv(): { slots: number; blockSize: number; blocksPerSlot: number; kvBlocks: number } {
    if (!this.limits) throw new KilnError('E_DISPOSED', 'model was disposed')
    return { slots: this.limits.slots, ...kvGeometry(this.limits) }
  }

  /**
   * Makes sure the graph has at least `slots` sequences of `context` positions, and a KV pool of
   * at least `kvBlocks` blocks when given (default: every slot its whole context). A rebuilt graph
   * starts with an empty KV cache.
   */
  ensureGraph(slots: number, context: number, kvBlocks?: number): void {
    if (this.disposed) throw new KilnError('E_DISPOSED', 'model was disposed')
    if (context > this.config.maxPositions) {
      throw new InputError(
        `${context} tokens exceed the model's context of ${this.config.maxPositions} positions`,
      )
    }
    const cur = this.limits
    // Without a pool size asked for, every slot gets its whole context.
    const wanted = kvBlocks ?? slots * Math.ceil(context / DEFAULT_BLOCK_SIZE)
    const fits = (l: GraphLimits) =>
      l.slots >= slots && l.contextLength >= context && kvGeometry(l).kvBlocks >= wanted
    if (this.graph && cur && fits(cur)) return
    const limits: GraphLimits = {
      maxRows: this.chunk,
      maxOutRows: this.chunk,
      slots: Math.max(slots, cur?.slots ?? 1),
      contextLength: Math.max(context, cur?.contextLength ?? 0),
    }
    if (kvBlocks !== undefined) limits.kvBlocks = kvBlocks
    const g = this.lora ? new LoraGraphBuilder(limits, this.lora) : new GraphBuilder(limits)
    const w = new WeightSet(this.weights, g, this.layout, this.dtype)
    const logits = decoderFamily(this.config.architecture).build(this.config, g, w)
    if (g instanceof LoraGraphBuilder) g.checkAllUsed()
    const spec = g.build(logits, this.backend)
    this.graph?.dispose()
    this.graph = undefined
    try {
      this.graph = new (native().Graph)(spec)
    } catch (e) {
      throw new FormatError(`${this.dir}: ${(e as Error).message}`)
    }
    this.limits = limits
  }

  /**
   * One forward step over ragged rows; returns the logits of `outRows` (R × V). blocks: the KV
   * block table (slots × kv.blocksPerSlot); absent, slot s owns blocks s·MB … s·MB+MB−1.
   * adapters: with named adapters, each row's tag (0 the base, k the k-th of adapterNames; absent:
   * every row the base). out: an array of exactly R × V floats to fill and return instead of a new
   * one (a decode loop reuses one: a new 128 KB array a step costs more than the copy).
   */
  async step(
    tokens: Int32Array,
    positions: Int32Array,
    slots: Int32Array,
    outRows: Int32Array,
    blocks?: Int32Array,
    adapters?: Int32Array,
    out?: Float32Array,
  ): Promise<Float32Array> {
    const g = this.live()
    const tags = this.adapterNames.length > 0 ? (adapters ?? new Int32Array(tokens.length)) : undefined
    return g.runAsync(tokens, positions, slots, outRows, this.threads, tags, blocks, undefined, false, out)
  }

  /** The row tag of a named adapter (1-based; undefined or the base: 0). */
  adapterTag(name: string | undefined): number {
    if (name === undefined) return 0
    const k = this.adapterNames.indexOf(name)
    if (k < 0)
      throw new UsageError(
        this.adapterNames.length === 0
          ? `${option('adapter')} ${quote(name)}: the model was loaded without named adapters`
          : `${option('adapter')} ${quote(name)} is not one of the model's adapters (${this.adapterNames.join(', ')})`,
      )
    return k + 1
  }

  get maxRows(): number {
    return this.chunk
  }

  /** The logits of every position of `ids` (T × V, row-major), as one sequence from position 0. */
  async logits(ids: number[]): Promise<Float32Array> {
    if (ids.length === 0) throw new InputError('logits() needs at least one token')
    return this.exclusive(async () => {
      this.ensureGraph(1, ids.length)
      const V = this.config.vocabSize
      const out = new Float32Array(ids.length * V)
      for (let s = 0; s < ids.length; s += this.chunk) {
        const n = Math.min(this.chunk, ids.length - s)
        const tokens = Int32Array.from(ids.slice(s, s + n))
        const pos = Int32Array.from({ length: n }, (_, i) => s + i)
        const rows = Int32Array.from({ length: n }, (_, i) => i)
        out.set(await this.step(tokens, pos, new Int32Array(n), rows), s * V)
      }
      return out
    })
  }

  /** Streams the tokens generated for one prompt (text or ids); returns the summary when done. */
  async *generate(
    prompt: string | number[],
    options: GenerateOptions = {},
  ): AsyncGenerator<GenerationEvent, GenerationResult> {
    const results: GenerationResult[] = yield* this.generateMany([prompt], options)
    return results[0]
  }

  /** Runs several prompts as one batch (ragged rows, one KV slot each). */
  async *generateMany(
    prompts: (string | number[])[],
    options: GenerateOptions = {},
  ): AsyncGenerator<GenerationEvent, GenerationResult[]> {
    return yield* generateBatch(this, prompts, options)
  }

  /**
   * Takes the model's KV slots for one user (a Scheduler) until the returned function is called.
   * Throws E_BUSY while another holds them.
   */
  claim(): () => void {
    if (this.busy)
      throw new KilnError('E_BUSY', 'this model is already generating; await the running generation first')
    this.busy = true
    let released = false
    return () => {
      if (released) return
      released = true
      this.busy = false
    }
  }

  dispose(): void {
    this.disposed = true
    this.graph?.dispose()
    this.graph = undefined
  }

  private live(): NativeGraph {
    if (!this.graph) throw new KilnError('E_DISPOSED', 'model was disposed')
    return this.graph
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new KilnError('E_BUSY', 'this model is busy with another request')
    this.busy = true
    try {
      return await fn()
    } finally {
      this.busy = false
    }
  }
}

/**
 * Loads a model: a folder in the Hugging Face layout (config.json, safetensors, tokenizer.json) or a
 * GGUF file (llama, mistral, qwen2, gpt2; F32/F16/BF16/Q8_0/Q4_0/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K weights),
 * memory-mapped. `opts.adapter` applies a PEFT LoRA adapter folder on top.
 */
export function loadModel(modelPath: string, opts: LoadOptions = {}): Model {
  return new Model(modelPath, opts)
}
