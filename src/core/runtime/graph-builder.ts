// Builds a native forward graph in SSA form: every op returns a new tensor id, and the native side
// plans which activations share memory. Methods mirror the op table in native/ops/ops.h one to one.
import type { GraphSpec, NativeDType, NodeSpec, RowKind, TensorSpec } from '../native.js'

export type TensorId = number

export const ROWS_FIXED: RowKind = 0
export const ROWS_TOKENS: RowKind = 1
export const ROWS_OUT: RowKind = 2

export interface GraphLimits {
  /** Token rows one step may carry (prefill chunk × sequences). */
  maxRows: number
  /** Rows whose logits one step may return. */
  maxOutRows: number
  /** KV cache length per sequence (decoders; encoders have no cache). */
  contextLength: number
  /** Sequences that can be in flight at once (KV cache slots; encoders: 1). */
  slots: number
  /** Positions per KV block (default 16). */
  blockSize?: number
  /** KV blocks in the pool (default: slots × ⌈contextLength / blockSize⌉, every slot its full context). */
  kvBlocks?: number
  /**
   * Every step is whole sequences of many rows, never one row at a time (encoders): matmuls may
   * sum in their many-row (GEMM) order, which no decode step could share (native/kernels.h).
   */
  wholeSequences?: boolean
}

export const DEFAULT_BLOCK_SIZE = 16

/** The paged KV cache's geometry for some limits: block size, blocks per slot, blocks in the pool. */
export function kvGeometry(limits: GraphLimits): {
  blockSize: number
  blocksPerSlot: number
  kvBlocks: number
} {
  const blockSize = limits.blockSize ?? DEFAULT_BLOCK_SIZE
  const blocksPerSlot = Math.ceil(limits.contextLength / blockSize)
  return { blockSize, blocksPerSlot, kvBlocks: limits.kvBlocks ?? limits.slots * blocksPerSlot }
}

export class GraphBuilder {
  readonly tensors: TensorSpec[] = []
  readonly nodes: NodeSpec[] = []
  readonly tokens: TensorId
  readonly positions: TensorId
  readonly slots: TensorId
  readonly outRows: TensorId
  private typesId?: TensorId
  private blocksId?: TensorId

  constructor(readonly limits: GraphLimits) {
    this.tokens = this.input('tokens', ROWS_TOKENS, limits.maxRows)
    this.positions = this.input('positions', ROWS_TOKENS, limits.maxRows)
    this.slots = this.input('slots', ROWS_TOKENS, limits.maxRows)
    this.outRows = this.input('out_rows', ROWS_OUT, limits.maxOutRows)
  }

  /** (N) i32 token type ids; the input exists only in graphs that ask for it. */
  get types(): TensorId {
    this.typesId ??= this.input('types', ROWS_TOKENS, this.limits.maxRows)
    return this.typesId
  }

  protected add(t: TensorSpec): TensorId {
    this.tensors.push(t)
    return this.tensors.length - 1
  }

  protected input(name: string, rows: RowKind, max: number): TensorId {
    return this.add({ name, dtype: 'i32', shape: [max], rows })
  }

  /** A tensor whose bytes live outside the graph (mapped weights, small converted constants). */
  external(name: string, dtype: NativeDType, shape: number[], data: ArrayBufferView): TensorId {
    return this.add({ name, dtype, shape, data })
  }

  /** Rows [row, row + rows) of fixed tensor `of`, read and written in place (no memory of its own). */
  view(name: string, of: TensorId, row: number, rows: number): TensorId {
    const base = this.tensors[of]
    return this.add({ name, dtype: base.dtype, shape: [rows, ...base.shape.slice(1)], view: { of, row } })
  }

  /** A graph-owned, zero-initialised fixed tensor (the KV cache). */
  owned(name: string, shape: number[]): TensorId {
    return this.add({ name, dtype: 'f32', shape, rows: ROWS_FIXED })
  }

  /**
   * One layer's paged key (or value) cache, (NB, NKV, BS, HS): the pool's blocks, which the graph's
   * block table (slots, MB) maps each slot's positions to (native/kernels.h).
   */
  kvCache(name: string, NKV: number, HS: number): TensorId {
    const { blockSize, blocksPerSlot, kvBlocks } = kvGeometry(this.limits)
    this.blocksId ??= this.add({
      name: 'kv_blocks',
      dtype: 'i32',
      shape: [this.limits.slots, blocksPerSlot],
      rows: ROWS_FIXED,
    })
    return this.owned(name, [kvBlocks, NKV, blockSize, HS])
  }

  private get blocks(): TensorId {
    if (this.blocksId === undefined) throw new Error('kvStore/attention before any kvCache()')
    return this.blocksId
  }

  cols(id: TensorId): number {
    const s = this.tensors[id].shape
    return s.slice(1).reduce((a, b) => a * b, 1)
  }

  protected rowsOf(id: TensorId): RowKind {
    return this.tensors[id].rows ?? ROWS_FIXED
  }

  protected act(name: string, rows: RowKind, cols: number): TensorId {
    const max = rows === ROWS_OUT ? this.limits.maxOutRows : this.limits.maxRows
    return this.add({ name, dtype: 'f32', shape: [max, cols], rows })
  }

  /**
   * The language-model head, (R, C) · (V, C)ᵀ → (R, V) logits. A family's model ends with it; a
   * training graph attaches its loss here (train-graph-builder.ts), a vocabulary chunk at a time.
   */
  lmHead(x: TensorId, w: TensorId): TensorId {
    return this.matmul('logits', x, w)
  }

  protected node(op: string, inputs: number[], output: TensorId, f?: number[], i?: number[]): TensorId {
    this.nodes.push({ op, inputs, output, f, i })
    return output
  }

  // (N, C) = table (V, C) [ids (N)]
  embedding(name: string, table: TensorId, ids: TensorId): TensorId {
    const C = this.tensors[table].shape[1]
    return this.node('embedding', [table, ids], this.act(name, this.rowsOf(ids), C))
  }

  // (N, M) = x (N, K) · wᵀ + bias; w (M, K), or (K, M) when wKxM (GPT-2 Conv1D)
  matmul(name: string, x: TensorId, w: TensorId, bias?: TensorId, wKxM = false): TensorId {
    const ws = this.tensors[w].shape
    const M = wKxM ? ws[1] : ws[0]
    const order = this.limits.wholeSequences ? 1 : 0
    return this.node(
      'matmul',
      [x, w, bias ?? -1],
      this.act(name, this.rowsOf(x), M),
      [],
      [wKxM ? 1 : 0, order],
    )
  }

  rmsnorm(name: string, x: TensorId, w: TensorId, eps: number): TensorId {
    return this.node('rmsnorm', [x, w], this.act(name, this.rowsOf(x), this.cols(x)), [eps])
  }

  layernorm(name: string, x: TensorId, w: TensorId, b: TensorId, eps: number): TensorId {
    return this.node('layernorm', [x, w, b], this.act(name, this.rowsOf(x), this.cols(x)), [eps])
  }

  // x (N, H*HS) rotated by positions; invFreq (HS/2); pairs (i, i+HS/2), or (2i, 2i+1) when interleaved
  rope(name: string, x: TensorId, invFreq: TensorId, H: number, HS: number, interleaved = false): TensorId {
    return this.node(
      'rope',
      [x, this.positions, invFreq],
      this.act(name, this.rowsOf(x), this.cols(x)),
      [],
      [H, HS, interleaved ? 1 : 0],
    )
  }

  // kcache/vcache (S, NKV, P, HS) updated in place at each row's slot and position
  kvStore(k: TensorId, v: TensorId, kcache: TensorId, vcache: TensorId): void {
    this.node('kv_store', [k, v, this.positions, this.slots, kcache, vcache, this.blocks], kcache)
  }

  // (N, NH*HS): causal attention of each row over its slot's cache
  attention(
    name: string,
    q: TensorId,
    kcache: TensorId,
    vcache: TensorId,
    NH: number,
    scale: number,
  ): TensorId {
    const out = this.act(name, this.rowsOf(q), this.cols(q))
    return this.node(
      'attention',
      [q, this.positions, this.slots, kcache, vcache, this.blocks],
      out,
      [scale],
      [NH],
    )
  }

  // (N, NH*HS): bidirectional attention of each row over its own sequence's rows of k, v (N, NKV*HS)
  // (encoders: whole sequences per step, no cache, no mask)
  bidirAttention(name: string, q: TensorId, k: TensorId, v: TensorId, NH: number, scale: number): TensorId {
    const out = this.act(name, this.rowsOf(q), this.cols(q))
    return this.node('bidir_attention', [q, k, v, this.positions], out, [scale], [NH])
  }

  add2(name: string, a: TensorId, b: TensorId): TensorId {
    return this.node('add', [a, b], this.act(name, this.rowsOf(a), this.cols(a)))
  }

  siluMul(name: string, gate: TensorId, up: TensorId): TensorId {
    return this.node('silu_mul', [gate, up], this.act(name, this.rowsOf(gate), this.cols(gate)))
  }

  gelu(name: string, x: TensorId, tanh: boolean): TensorId {
    return this.node('gelu', [x], this.act(name, this.rowsOf(x), this.cols(x)), [], [tanh ? 1 : 0])
  }

  tanh(name: string, x: TensorId): TensorId {
    return this.node('tanh', [x], this.act(name, this.rowsOf(x), this.cols(x)))
  }

  relu(name: string, x: TensorId): TensorId {
    return this.node('relu', [x], this.act(name, this.rowsOf(x), this.cols(x)))
  }

  softmax(name: string, x: TensorId): TensorId {
    return this.node('softmax', [x], this.act(name, this.rowsOf(x), this.cols(x)))
  }

  // (R, C): the rows whose logits are wanted
  selectOutRows(name: string, x: TensorId): TensorId {
    return this.node('select_rows', [x, this.outRows], this.act(name, ROWS_OUT, this.cols(x)))
  }

  sliceCols(name: string, x: TensorId, start: number, width: number): TensorId {
    return this.node('slice_cols', [x], this.act(name, this.rowsOf(x), width), [], [start, width])
  }

  build(output: TensorId, backend: 'cpu' | 'ref' = 'cpu'): GraphSpec {
    return {
      backend,
      tensors: this.tensors,
      nodes: this.nodes,
      io: {
        tokens: this.tokens,
        positions: this.positions,
        slots: this.slots,
        outRows: this.outRows,
        output,
        ...(this.typesId === undefined ? {} : { types: this.typesId }),
        ...(this.blocksId === undefined ? {} : { blocks: this.blocksId }),
      },
    }
  }
}
