// The graph builder of a training step. A model definition (models/<family>/model.ts) builds its
// forward pass through it unchanged: the KV cache becomes in-step causal attention over the step's
// own rows, every row's logits are kept, trainable weights become parameters the graph owns, and
// LoRA adds its low-rank branch beside each targeted matmul. The loss, the backward (backward.ts)
// and the optimizer's nodes are added after the forward, in the same node list.
import type { GraphSpec, NativeDType } from '../native.js'
import { GraphBuilder, ROWS_FIXED, ROWS_TOKENS, type TensorId } from '../runtime/graph-builder.js'

/** A tensor the optimizer updates: its value, gradient and AdamW moments, all graph-owned f32. */
export interface Parameter {
  /** The checkpoint's name (full fine-tuning) or the LoRA tensor's module path + lora_A/lora_B. */
  name: string
  shape: number[]
  id: TensorId
  grad: TensorId
  m: TensorId
  v: TensorId
  /** Its first value, written after the graph is built (absent: LoRA's A/B, set by the caller). */
  init?: Float32Array
}

export interface LoraPlan {
  rank: number
  alpha: number
  /** Dropout on the LoRA branch's input (PEFT's lora_dropout; 0: none). */
  dropout?: number
  /** Whether the matmul of this weight (checkpoint name, e.g. model.layers.0.self_attn.q_proj.weight) gets LoRA. */
  targets: (weightName: string) => boolean
}

export interface TrainGraphOptions {
  /** Token rows a step may carry (the micro-batch's tokens). */
  maxRows: number
  lora?: LoraPlan
  /** Full fine-tuning: whether this checkpoint tensor is trained (it becomes an f32 parameter). */
  trainable?: (weightName: string) => boolean
  /**
   * Vocabulary columns per chunk of the loss (absent, or at least the vocabulary: the whole (N, V)
   * logits at once). See lmHead.
   */
  lossChunk?: number
}

/** One vocabulary chunk of the head: rows v0.. of its weight, and of its gradient when trained. */
interface HeadChunk {
  v0: number
  width: number
  w: TensorId
  grad?: TensorId
}

/** The head when the loss is chunked: its input, its chunks and the loss's stats. */
export interface ChunkedHead {
  x: TensorId
  chunks: HeadChunk[]
  stats: TensorId
  /** The first node of the head and loss (the nodes before it are the model's forward). */
  firstNode: number
}

export class TrainGraphBuilder extends GraphBuilder {
  readonly targets: TensorId
  readonly hyper: TensorId
  /** The dropout masks' per-step seed (two 16-bit halves as f32, then 1 to drop or 0 not to), when the graph has dropout. */
  dropoutSeed?: TensorId
  private dropouts = 0
  readonly params: Parameter[] = []
  private readonly paramIds = new Map<TensorId, Parameter>()
  // A decoder's KV cache handle (a negative id) → the k or v rows stored to it this step.
  private readonly stored = new Map<TensorId, TensorId>()
  private nextHandle = -2
  private update: GraphSpec['nodes'] = []

  constructor(private readonly opts: TrainGraphOptions) {
    super({ maxRows: opts.maxRows, maxOutRows: opts.maxRows, contextLength: opts.maxRows, slots: 1 })
    this.targets = this.input('targets', ROWS_TOKENS, opts.maxRows)
    this.hyper = this.add({ name: 'adamw.hyper', dtype: 'f32', shape: [8], rows: ROWS_FIXED })
  }

  /** The parameter whose value tensor is `id`, if it is one. */
  parameter(id: TensorId): Parameter | undefined {
    return this.paramIds.get(id)
  }

  private fixed(name: string, shape: number[]): TensorId {
    return this.add({ name, dtype: 'f32', shape, rows: ROWS_FIXED })
  }

  /** A new trainable f32 tensor with its gradient and moments. */
  param(name: string, shape: number[], init?: Float32Array): TensorId {
    const p: Parameter = {
      name,
      shape,
      id: this.fixed(name, shape),
      grad: this.fixed(`${name}.grad`, shape),
      m: this.fixed(`${name}.adam_m`, shape),
      v: this.fixed(`${name}.adam_v`, shape),
      init,
    }
    this.params.push(p)
    this.paramIds.set(p.id, p)
    return p.id
  }

  // Full fine-tuning: a trained checkpoint tensor is a parameter (f32 master weights) instead of
  // the mapped bytes.
  override external(name: string, dtype: NativeDType, shape: number[], data: ArrayBufferView): TensorId {
    if (!this.opts.trainable?.(name)) return super.external(name, dtype, shape, data)
    if (dtype !== 'f32') throw new Error(`trainable tensor ${name} must be loaded as f32, not ${dtype}`)
    // The first value is read in place (a mapped f32 tensor is not copied on the JS heap: the
    // graph copies it into its own parameter once); unaligned bytes are copied to align them.
    const aligned = data.byteOffset % 4 === 0
    const init = aligned
      ? new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4)
      : new Float32Array(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer)
    return this.param(name, shape, init)
  }

  // Training reads no cache: a layer's k and v rows go straight to in-step causal attention.
  override kvCache(_name: string, _NKV: number, _HS: number): TensorId {
    return this.nextHandle--
  }

  override kvStore(k: TensorId, v: TensorId, kcache: TensorId, vcache: TensorId): void {
    this.stored.set(kcache, k)
    this.stored.set(vcache, v)
  }

  override attention(
    name: string,
    q: TensorId,
    kcache: TensorId,
    vcache: TensorId,
    NH: number,
    scale: number,
  ): TensorId {
    const k = this.stored.get(kcache)
    const v = this.stored.get(vcache)
    if (k === undefined || v === undefined) throw new Error(`${name}: attention before its kvStore`)
    return this.causalAttention(name, q, k, v, NH, scale)
  }

  /**
   * With `lossChunk`, the head computes the loss a vocabulary chunk at a time and returns it, (N, 1):
   * each chunk's logits (x · W[v0:v0+w]ᵀ, through row views of the weight) are merged into running
   * (max, Σexp, target logit) stats and then let go, so no step holds the whole (N, V) logits; the
   * backward (chunkedLossBackward) computes each chunk's logits again. A head with a LoRA branch keeps
   * the whole logits.
   */
  override lmHead(x: TensorId, w: TensorId): TensorId {
    const V = this.tensors[w].shape[0]
    const chunk = this.opts.lossChunk ?? 0
    if (chunk < 1 || chunk >= V || this.opts.lora?.targets(this.tensors[w].name)) return super.lmHead(x, w)
    const firstNode = this.nodes.length
    const grad = this.parameter(w)?.grad
    const chunks: HeadChunk[] = []
    let stats = -1
    for (let v0 = 0; v0 < V; v0 += chunk) {
      const width = Math.min(chunk, V - v0)
      const c: HeadChunk = {
        v0,
        width,
        w: this.view(`lm_head[${v0}:${v0 + width}]`, w, v0, width),
        grad:
          grad === undefined ? undefined : this.view(`lm_head.grad[${v0}:${v0 + width}]`, grad, v0, width),
      }
      chunks.push(c)
      const logits = super.matmul(`logits[${v0}:${v0 + width}]`, x, c.w) // (N, width)
      const out = this.act(`loss.stats[${v0}:]`, this.rowsOf(x), 3)
      stats = this.node('cross_entropy_stats', [logits, this.targets, stats], out, [], [v0, V])
    }
    this.chunkedHead = { x, chunks, stats, firstNode }
    return this.node('cross_entropy_loss', [stats, this.targets], this.act('loss', this.rowsOf(x), 1))
  }

  /** Set by lmHead when the loss is chunked. */
  chunkedHead?: ChunkedHead

  /**
   * The chunked loss's backward: each chunk's logits again, their gradient from the loss's stats,
   * then the head input's gradient (summed over the chunks, returned) and, when the head is trained,
   * its weight's gradient a row block at a time.
   */
  chunkedLossBackward(): TensorId {
    const head = this.chunkedHead
    if (!head) throw new Error('chunkedLossBackward without a chunked head')
    let dx: TensorId | undefined
    for (const c of head.chunks) {
      const name = `logits[${c.v0}:${c.v0 + c.width}]`
      const logits = super.matmul(`${name}.recomputed`, head.x, c.w)
      const out = this.act(`${name}.grad`, this.rowsOf(head.x), c.width)
      const d = this.node('cross_entropy_chunk_backward', [logits, this.targets, head.stats], out, [], [c.v0])
      const quantized = !['f32', 'f16', 'bf16'].includes(this.tensors[c.w].dtype)
      const part = quantized
        ? this.matmulBackwardInput(`${name}.x_grad`, d, c.w)
        : this.plainMatmul(`${name}.x_grad`, d, c.w, true)
      dx = dx === undefined ? part : this.add2(`${name}.x_grad_sum`, dx, part)
      if (c.grad !== undefined) this.matmulBackwardWeight(d, head.x, c.grad, false)
    }
    return dx as TensorId
  }

  // Every row's logits count toward the loss.
  override selectOutRows(_name: string, x: TensorId): TensorId {
    return x
  }

  // LoRA (PEFT's Linear): y = x·Wᵀ + b + (alpha / r) · (x·Aᵀ)·Bᵀ, A (r, K), B (M, r).
  override matmul(name: string, x: TensorId, w: TensorId, bias?: TensorId, wKxM = false): TensorId {
    const base = super.matmul(name, x, w, bias, wKxM)
    const lora = this.opts.lora
    const weightName = this.tensors[w].name
    if (!lora?.targets(weightName)) return base
    const module = weightName.replace(/\.weight$/, '')
    const [rows, cols] = this.tensors[w].shape
    const [K, M] = wKxM ? [rows, cols] : [cols, rows]
    const a = this.param(`${module}.lora_A.weight`, [lora.rank, K])
    const b = this.param(`${module}.lora_B.weight`, [M, lora.rank])
    const p = lora.dropout ?? 0
    const input = p > 0 ? this.dropout(`${name}.lora_dropout`, x, p) : x
    const u = super.matmul(`${name}.lora_a`, input, a) // (N, r)
    const z = super.matmul(`${name}.lora_b`, u, b) // (N, M)
    return this.add2(`${name}.lora`, base, this.scale(`${name}.lora_scaled`, z, lora.alpha / lora.rank))
  }

  /** A fresh activation shaped as `t` (a layer's activation recomputed for its backward). */
  recomputedOutput(t: TensorId): TensorId {
    return this.act(`${this.tensors[t].name}.recomputed`, this.rowsOf(t), this.cols(t))
  }

  /** Appends a node as given (a forward node again, over recomputed inputs). */
  emit(nd: GraphSpec['nodes'][number]): void {
    this.node(nd.op, nd.inputs, nd.output, nd.f, nd.i)
  }

  /** A matmul that never gets LoRA's branch (the backward's x gradient through a frozen weight). */
  plainMatmul(name: string, x: TensorId, w: TensorId, wKxM: boolean): TensorId {
    return super.matmul(name, x, w, undefined, wKxM)
  }

  // (N, NH*HS): each row over its own sequence's rows up to itself; k, v (N, NKV*HS)
  causalAttention(name: string, q: TensorId, k: TensorId, v: TensorId, NH: number, scale: number): TensorId {
    const out = this.act(name, this.rowsOf(q), this.cols(q))
    return this.node('causal_attention', [q, k, v, this.positions], out, [scale], [NH])
  }

  // x · keep / (1 - p); `salt` (default: a new one) names the mask, so dropout's backward is the
  // same op with the same salt on dy.
  dropout(name: string, x: TensorId, p: number, salt = this.dropouts++): TensorId {
    this.dropoutSeed ??= this.fixed('dropout.seed', [3])
    return this.node(
      'dropout',
      [x, this.dropoutSeed],
      this.act(name, this.rowsOf(x), this.cols(x)),
      [p],
      [salt],
    )
  }

  scale(name: string, x: TensorId, s: number): TensorId {
    return this.node('scale', [x], this.act(name, this.rowsOf(x), this.cols(x)), [s])
  }

  // (N, 1): each row's cross-entropy against its target (0 where the target is -100)
  crossEntropy(logits: TensorId): TensorId {
    return this.node('cross_entropy', [logits, this.targets], this.act('loss', this.rowsOf(logits), 1))
  }

  // --- backward ops (native/train_kernels.h); each mirrors one op of the table ---

  crossEntropyBackward(logits: TensorId): TensorId {
    const out = this.act('logits.grad', this.rowsOf(logits), this.cols(logits))
    return this.node('cross_entropy_backward', [logits, this.targets], out)
  }

  // (N, NH*HS + 2*NKV*HS) = [dq | dk | dv]
  causalAttentionBackward(
    dy: TensorId,
    q: TensorId,
    k: TensorId,
    v: TensorId,
    NH: number,
    scale: number,
  ): TensorId {
    const out = this.act(`${this.tensors[q].name}.attn_grad`, this.rowsOf(q), this.cols(q) + 2 * this.cols(k))
    return this.node('causal_attention_backward', [dy, q, k, v, this.positions], out, [scale], [NH])
  }

  /** dW += dyᵀ·x into the parameter's gradient (layout of the forward weight). */
  matmulBackwardWeight(dy: TensorId, x: TensorId, grad: TensorId, wKxM: boolean): void {
    this.node('matmul_backward_weight', [dy, x], grad, [], [wKxM ? 1 : 0])
  }

  // (N, K) = dy (N, M) · w (M, K), w of any dtype (block-quantized: QLoRA's base)
  matmulBackwardInput(name: string, dy: TensorId, w: TensorId): TensorId {
    const out = this.act(name, this.rowsOf(dy), this.tensors[w].shape[1])
    return this.node('matmul_backward_input', [dy, w], out)
  }

  biasBackward(dy: TensorId, grad: TensorId): void {
    this.node('bias_backward', [dy], grad)
  }

  rmsnormBackward(dy: TensorId, x: TensorId, w: TensorId, eps: number): TensorId {
    const out = this.act(`${this.tensors[x].name}.grad`, this.rowsOf(x), this.cols(x))
    return this.node('rmsnorm_backward', [dy, x, w], out, [eps])
  }

  rmsnormBackwardWeight(dy: TensorId, x: TensorId, grad: TensorId, eps: number): void {
    this.node('rmsnorm_backward_weight', [dy, x], grad, [eps])
  }

  layernormBackward(dy: TensorId, x: TensorId, w: TensorId, eps: number): TensorId {
    const out = this.act(`${this.tensors[x].name}.grad`, this.rowsOf(x), this.cols(x))
    return this.node('layernorm_backward', [dy, x, w], out, [eps])
  }

  layernormBackwardWeight(dy: TensorId, x: TensorId, grad: TensorId, eps: number): void {
    this.node('layernorm_backward_weight', [dy, x], grad, [eps])
  }

  geluBackward(dy: TensorId, x: TensorId, tanh: boolean): TensorId {
    const out = this.act(`${this.tensors[x].name}.gelu_grad`, this.rowsOf(x), this.cols(x))
    return this.node('gelu_backward', [dy, x], out, [], [tanh ? 1 : 0])
  }

  // (N, C): dy in the slice's columns [start, start + width), zeros elsewhere
  sliceColsBackward(dy: TensorId, start: number, C: number): TensorId {
    const out = this.act(`${this.tensors[dy].name}.unsliced`, this.rowsOf(dy), C)
    return this.node('slice_cols_backward', [dy], out, [], [start])
  }

  ropeBackward(dy: TensorId, invFreq: TensorId, i: number[]): TensorId {
    const out = this.act(`${this.tensors[dy].name}.rope_grad`, this.rowsOf(dy), this.cols(dy))
    return this.node('rope_backward', [dy, this.positions, invFreq], out, [], i)
  }

  // (N, 2F) = [dgate | dup]
  siluMulBackward(dy: TensorId, gate: TensorId, up: TensorId): TensorId {
    const out = this.act(`${this.tensors[gate].name}.act_grad`, this.rowsOf(gate), 2 * this.cols(gate))
    return this.node('silu_mul_backward', [dy, gate, up], out)
  }

  embeddingBackward(dy: TensorId, ids: TensorId, grad: TensorId): void {
    this.node('embedding_backward', [dy, ids], grad)
  }

  /** The loss rows (N, 1) become the graph's output; one adamw node per parameter forms the update. */
  buildTraining(loss: TensorId, forwardNodes: number, backend: 'cpu' | 'ref' = 'cpu'): GraphSpec {
    this.update = this.params.map((p) => ({
      op: 'adamw',
      inputs: [p.id, p.grad, p.m, p.v, this.hyper],
      output: p.id,
    }))
    const spec = this.build(loss, backend)
    return {
      ...spec,
      update: this.update,
      forwardNodes,
      io: { ...spec.io, targets: this.targets, hyper: this.hyper },
    }
  }
}
