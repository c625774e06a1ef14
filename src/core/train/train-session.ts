// A model opened for training: its training graph (forward, loss, backward and the AdamW update in
// one native graph), the parameters it owns, and the two calls a training loop makes — one native
// step per micro-batch that sums the gradients, one update per optimizer step.
import { FormatError, option, UsageError } from '../errors.js'
import { decoderFamily } from '../models/registry.js'
import { permuteRopeRows, ropePermutedHeads, WeightSet } from '../models/weights.js'
import { type NativeGraph, native } from '../native.js'
import type { ModelSource } from '../runtime/model-source.js'
import { buildBackward } from './backward.js'
import { type LoraPlan, type Parameter, TrainGraphBuilder } from './train-graph-builder.js'
import type { TrainExample } from './types.js'

/** The families whose every forward op has its backward (backward.ts). */
export const TRAINABLE_FAMILIES: readonly string[] = ['llama', 'mistral', 'qwen2', 'gpt2']

export interface LoraSettings {
  rank: number
  alpha: number
  /** Dropout on the LoRA input (default 0). */
  dropout?: number
  /** Module names (q_proj, …) or ['all-linear']: every linear layer but the output head. */
  target: string[]
}

export interface TrainSessionOptions {
  method: 'lora' | 'full'
  lora?: LoraSettings
  /** Token rows one micro-batch may hold (its sequences laid end to end). */
  maxRows: number
  threads: number
  backend?: 'cpu' | 'ref'
  /**
   * Recompute each layer's activations in the backward instead of keeping them (transformers'
   * gradient_checkpointing): a step holds one layer's activations, for one more forward's compute.
   */
  gradientCheckpointing?: boolean
  /**
   * Vocabulary columns per chunk of the loss (absent: the whole (tokens, vocabulary) logits at
   * once): the logits are computed a chunk at a time, twice (the backward recomputes them), so a
   * step never holds them whole.
   */
  lossChunk?: number
}

export interface AdamWSettings {
  lr: number
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  /** Clip the gradients' global norm to this (0 or absent: no clipping). */
  maxGradNorm?: number
}

/** One micro-batch's loss: the sum over its counted tokens, and how many there were. */
export interface StepLoss {
  lossSum: number
  tokens: number
}

/** Whole logits up to this size; past it, the loss is chunked. */
const WHOLE_LOGITS_BYTES = 256 * 2 ** 20

/**
 * The loss chunk kiln picks for a micro-batch of `rows` tokens: none (0, the whole logits) while the
 * logits fit in 256 MiB (a chunked loss computes them twice: +11% on the 110M bench llama's LoRA
 * step), past that chunks of at most 64 MiB of logits. With gradient checkpointing (memory before
 * compute) the logits are most of what a step holds: always chunks, of at most 16 MiB. A chunk is
 * a multiple of 64 columns (whole SIMD rows for the kernels).
 */
export function autoLossChunk(rows: number, vocab: number, checkpointing = false): number {
  const logits = rows * vocab * 4
  if (!checkpointing && logits <= WHOLE_LOGITS_BYTES) return 0
  const chunkBytes = (checkpointing ? 16 : 64) * 2 ** 20
  if (logits <= chunkBytes) return 0
  return Math.max(64, Math.floor(chunkBytes / (rows * 4) / 64) * 64)
}

/** PEFT's default LoRA targets for a family (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export function defaultLoraTarget(architecture: string): string[] {
  return architecture === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj']
}

/** The token embedding tables a tied output head reads (llama family, GPT-2 with and without its prefix). */
const EMBEDDINGS = ['model.embed_tokens', 'transformer.wte', 'wte']

/** PEFT's target matching: a module whose name is the target, or ends with `.target`. */
export function loraTargets(target: string[], tiedHead: boolean): LoraPlan['targets'] {
  const allLinear = target.length === 1 && target[0] === 'all-linear'
  return (weightName: string) => {
    if (!weightName.endsWith('.weight')) return false
    const module = weightName.slice(0, -'.weight'.length)
    // all-linear leaves out the output head (PEFT), which a tied model reads from the embedding.
    if (allLinear) return module !== 'lm_head' && !(tiedHead && EMBEDDINGS.includes(module))
    return target.some((t) => module === t || module.endsWith(`.${t}`))
  }
}

/** Throws a UsageError when `method` cannot train this model (before any data is read). */
export function checkTrainable(source: ModelSource, method: 'lora' | 'full'): void {
  const arch = source.config.architecture
  if (!TRAINABLE_FAMILIES.includes(arch))
    throw new UsageError(
      `${source.path}: training supports the ${TRAINABLE_FAMILIES.join(', ')} families, not ${arch}`,
    )
  // LoRA leaves the base as stored, block-quantized GGUF weights included (QLoRA: the backward
  // reads them through matmul_backward_input); full fine-tuning trains f32 copies of a folder's.
  if (method !== 'full') return
  if (source.format !== 'safetensors')
    throw new UsageError(
      `${source.path}: full fine-tuning trains a Hugging Face folder's weights; train LoRA over the GGUF file (QLoRA), or fully from the safetensors folder`,
    )
  for (const [name, v] of source.weights)
    if (!['F32', 'F16', 'BF16'].includes(v.dtype))
      throw new UsageError(
        `${source.path}: tensor ${name} is ${v.dtype}; full fine-tuning reads F32, F16 or BF16 weights`,
      )
}

export class TrainSession {
  readonly params: Parameter[]
  private readonly graph: NativeGraph
  private readonly gradIds: Int32Array
  private readonly threads: number
  readonly maxRows: number
  private readonly dropoutSeed?: number
  /** Optimizer steps taken (AdamW's bias correction counts them). */
  optimizerSteps = 0

  constructor(
    readonly source: ModelSource,
    readonly opts: TrainSessionOptions,
  ) {
    const cfg = source.config
    checkTrainable(source, opts.method)
    this.threads = opts.threads
    this.maxRows = opts.maxRows
    const lora =
      opts.method === 'lora'
        ? {
            rank: opts.lora?.rank ?? 16,
            alpha: opts.lora?.alpha ?? 32,
            dropout: opts.lora?.dropout ?? 0,
            targets: loraTargets(
              opts.lora?.target ?? defaultLoraTarget(cfg.architecture),
              cfg.tieWordEmbeddings,
            ),
          }
        : undefined
    const g = new TrainGraphBuilder({
      maxRows: opts.maxRows,
      lora,
      trainable: opts.method === 'full' ? (name) => source.weights.has(name) : undefined,
      lossChunk: opts.lossChunk,
    })
    const w = new WeightSet(source.weights, g, source.layout, opts.method === 'full' ? 'f32' : 'auto')
    const out = decoderFamily(cfg.architecture).build(cfg, g, w)
    // The model's forward ends with the logits, or (a chunked loss) with the loss itself.
    const head = g.chunkedHead
    const forward = g.nodes.slice(0, head?.firstNode)
    const loss = head ? out : g.crossEntropy(out)
    const forwardNodes = g.nodes.length
    const seed = head
      ? { tensor: head.x, grad: g.chunkedLossBackward() }
      : { tensor: out, grad: g.crossEntropyBackward(out) }
    buildBackward(g, forward, seed, { checkpoint: opts.gradientCheckpointing })
    if (g.params.length === 0)
      throw new UsageError(`${option('target')} matches no linear layer of ${source.path}`)
    const spec = g.buildTraining(loss, forwardNodes, opts.backend ?? 'cpu')
    try {
      this.graph = new (native().Graph)(spec)
    } catch (e) {
      throw new FormatError(`${source.path}: ${(e as Error).message}`)
    }
    this.params = g.params
    this.dropoutSeed = g.dropoutSeed
    // Once in the graph, the first values are let go (f16/bf16 weights were converted copies).
    for (const p of this.params)
      if (p.init) {
        this.graph.writeTensor(p.id, p.init)
        p.init = undefined
      }
    this.gradIds = Int32Array.from(this.params.map((p) => p.grad))
  }

  /** The dropout masks of the next steps (a 32-bit seed), or none (evaluation); no-op without dropout. */
  setDropoutSeed(seed: number | 'off'): void {
    if (this.dropoutSeed === undefined) return
    const on = seed === 'off' ? 0 : 1
    const s = seed === 'off' ? 0 : seed
    this.graph.writeTensor(this.dropoutSeed, Float32Array.of(s & 0xffff, s >>> 16, on))
  }

  /** Bytes of the step's activations (what the buffer planner allocated). */
  get activationBytes(): number {
    return this.graph.info().activationBytes
  }

  get trainableParameters(): number {
    return this.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)
  }

  /**
   * Forward and backward over one micro-batch, adding its gradients to the parameters' (summed over
   * tokens, unscaled: update() divides by the tokens counted since the last update).
   */
  async step(batch: readonly TrainExample[], opts: { forwardOnly?: boolean } = {}): Promise<StepLoss> {
    const N = batch.reduce((n, ex) => n + ex.ids.length, 0)
    if (N > this.maxRows)
      throw new UsageError(`a micro-batch of ${N} tokens exceeds the graph's ${this.maxRows} rows`)
    const tokens = new Int32Array(N)
    const positions = new Int32Array(N)
    const targets = new Int32Array(N)
    let r = 0
    let counted = 0
    for (const ex of batch) {
      const T = ex.ids.length
      for (let t = 0; t < T; t++, r++) {
        tokens[r] = ex.ids[t]
        positions[r] = t
        // transformers' causal-LM loss: the logits at t predict the label at t + 1.
        targets[r] = t + 1 < T ? ex.labels[t + 1] : -100
        if (targets[r] !== -100) counted++
      }
    }
    const rows = Int32Array.from({ length: N }, (_, i) => i)
    const loss = await this.graph.runAsync(
      tokens,
      positions,
      new Int32Array(N),
      rows,
      this.threads,
      undefined,
      undefined,
      targets,
      opts.forwardOnly,
    )
    let lossSum = 0
    for (let i = 0; i < N; i++) lossSum += loss[i]
    return { lossSum, tokens: counted }
  }

  /**
   * One AdamW step over the gradients summed since the last one, as the mean over `tokens` counted
   * tokens; returns the gradient norm before clipping.
   */
  update(adam: AdamWSettings, tokens: number): { gradNorm: number } {
    const scale = tokens > 0 ? 1 / tokens : 0
    const gradNorm = Math.sqrt(this.graph.sumSquares(this.gradIds)) * scale
    const clip = adam.maxGradNorm && gradNorm > adam.maxGradNorm ? adam.maxGradNorm / (gradNorm + 1e-6) : 1
    this.optimizerSteps++
    const t = this.optimizerSteps
    const hyper = Float32Array.of(
      adam.lr,
      adam.beta1,
      adam.beta2,
      adam.eps,
      adam.weightDecay,
      1 - adam.beta1 ** t,
      1 - adam.beta2 ** t,
      scale * clip,
    )
    this.graph.update(hyper, this.threads)
    return { gradNorm }
  }

  read(id: number): Float32Array {
    return this.graph.readTensor(id)
  }

  /**
   * A parameter's values in the checkpoint's layout (Hugging Face row order): over a llama.cpp GGUF
   * base, whose q and k rows are permuted for interleaved rope pairs, LoRA's B of q_proj and k_proj
   * is trained in the base's row order and read back here in the transformers one.
   */
  readParameter(p: Parameter, tensor: 'value' | 'grad' = 'value'): Float32Array {
    const v = this.read(tensor === 'grad' ? p.grad : p.id)
    return this.permuted(p) ? permuteRopeRows(v, p.shape[0], this.source.config.headDim, 'hf') : v
  }

  /** Writes values given in the checkpoint's layout (the inverse of readParameter). */
  writeParameter(p: Parameter, values: Float32Array): void {
    const v = this.permuted(p)
      ? permuteRopeRows(values, p.shape[0], this.source.config.headDim, 'gguf')
      : values
    this.write(p.id, v)
  }

  // LoRA's B is laid out by its module's output rows; A by its inputs, which are not permuted.
  private permuted(p: Parameter): boolean {
    return (
      p.name.endsWith('.lora_B.weight') &&
      ropePermutedHeads(p.name, this.source.config, this.source.layout) > 0
    )
  }

  write(id: number, data: Float32Array): void {
    this.graph.writeTensor(id, data)
  }

  dispose(): void {
    this.graph.dispose()
  }
}
