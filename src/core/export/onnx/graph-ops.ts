// The part of writing a kiln graph as ONNX that decoders and encoders share: kiln's row-wise ops
// (each row a token) on ONNX tensors of (batch, sequence, features), weights as initializers under
// their checkpoint names (a matmul's stored (in, out), as ONNX MatMul reads them), and shared
// rotary angles. What differs (inputs and outputs, attention, which rows come back) is a subclass's.
import { KilnError } from '../../errors.js'
import type { GraphSpec, NodeSpec, TensorSpec } from '../../native.js'
import { ROWS_FIXED } from '../../runtime/graph-builder.js'
import { bytesOf, type Initializer, OnnxEmitter } from './emitter.js'
import type { NodeProto, ValueInfoProto } from './proto.js'

export interface OnnxGraph {
  nodes: NodeProto[]
  initializers: Initializer[]
  inputs: ValueInfoProto[]
  outputs: ValueInfoProto[]
}

export abstract class GraphTranslator {
  protected readonly e = new OnnxEmitter()
  protected readonly tensors: TensorSpec[]
  /** kiln tensor id → the ONNX value holding it. */
  protected readonly values = new Map<number, string>()
  protected readonly inputs: ValueInfoProto[] = []
  protected readonly outputs: ValueInfoProto[] = []
  /** Weights a matmul reads as (M, K): stored transposed, as (K, M), ONNX MatMul's order. */
  private readonly transposed = new Set<number>()
  private readonly rotary = new Map<number, { cos: string; sin: string }>()

  constructor(protected readonly spec: GraphSpec) {
    this.tensors = spec.tensors
    for (const n of spec.nodes) if (n.op === 'matmul' && n.i?.[0] === 0) this.transposed.add(n.inputs[1])
  }

  /** Translates every node; the subclass has declared its inputs and maps its outputs after. */
  protected translateNodes(): void {
    for (const n of this.spec.nodes) this.node(n)
  }

  protected graph(): OnnxGraph {
    return {
      nodes: this.e.nodes,
      initializers: this.e.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    }
  }

  /** The int64 positions rotary embeddings read, (B, S) or broadcastable to it. */
  protected abstract positionIds(): string

  /**
   * The ops a subclass writes its own way (attention, the KV cache, row selection): the value of
   * the node's output, null for a node without one, undefined for an op it does not know.
   */
  protected abstract special(n: NodeSpec, out: string): string | null | undefined

  /** The ONNX value of a kiln tensor: an op's output, an input, or a weight made an initializer. */
  protected value(id: number): string {
    const known = this.values.get(id)
    if (known !== undefined) return known
    const t = this.tensors[id]
    if ((t.rows ?? ROWS_FIXED) !== ROWS_FIXED || !t.data)
      throw new KilnError('E_EXPORT', `ONNX export: tensor "${t.name}" is read before it is computed`)
    const name = this.weight(id, t)
    this.values.set(id, name)
    return name
  }

  private weight(id: number, t: TensorSpec): string {
    const data = t.data as ArrayBufferView
    if (t.dtype === 'f32') {
      const f = float32(data)
      if (this.transposed.has(id) && t.shape.length === 2) {
        const [M, K] = t.shape
        return this.e.initializer(t.name, 'float', [K, M], bytesOf(transpose(f, M, K)))
      }
      return this.e.initializer(t.name, 'float', t.shape, bytesOf(f))
    }
    if (t.dtype === 'i32') return this.e.initializer(t.name, 'int32', t.shape, bytesOf(data))
    throw new KilnError(
      'E_EXPORT',
      `ONNX export: weight "${t.name}" is ${t.dtype}; the fp32 export needs f32`,
    )
  }

  protected node(n: NodeSpec): void {
    const e = this.e
    const x = () => this.value(n.inputs[0])
    // Intermediate values are named /<kiln name>, so none can take an input or output name.
    const out = `/${this.tensors[n.output].name}`
    const set = (v: string) => this.values.set(n.output, v)
    switch (n.op) {
      case 'embedding': {
        // A table that is also a matmul weight (tied embeddings) is stored once, as (C, V).
        const table = n.inputs[0]
        const ids = this.value(n.inputs[1])
        if (this.transposed.has(table)) {
          const cols = e.op('Gather', [this.value(table), ids], { axis: 1 }) // (C, B, S)
          return void set(e.op('Transpose', [cols], { perm: [1, 2, 0] }, out))
        }
        return void set(e.op('Gather', [this.value(table), ids], { axis: 0 }, out))
      }
      case 'matmul': {
        const [, w, bias] = n.inputs
        const kxm = n.i?.[0] === 1
        if (!kxm && !this.transposed.has(w)) throw new Error('matmul weight not marked for transposition')
        const y = e.op('MatMul', [x(), this.value(w)], {}, bias >= 0 ? undefined : out)
        return void set(bias >= 0 ? e.op('Add', [y, this.value(bias)], {}, out) : y)
      }
      case 'rmsnorm': {
        // x / sqrt(mean(x²) + eps) · w, in standard ops (RMSNormalization is opset 23).
        const v = x()
        const ms = e.op('ReduceMean', [e.op('Mul', [v, v]), e.ints([-1])], { keepdims: 1 })
        const rms = e.op('Sqrt', [e.op('Add', [ms, e.float(n.f?.[0] ?? 0)])])
        return void set(e.op('Mul', [e.op('Div', [v, rms]), this.value(n.inputs[1])], {}, out))
      }
      case 'layernorm':
        return void set(
          e.op(
            'LayerNormalization',
            [x(), this.value(n.inputs[1]), this.value(n.inputs[2])],
            { axis: -1, epsilon: { f: n.f?.[0] ?? 0 } },
            out,
          ),
        )
      case 'rope':
        return void set(this.rope(n, out))
      case 'add':
        return void set(e.op('Add', [x(), this.value(n.inputs[1])], {}, out))
      case 'silu_mul': {
        const g = x()
        return void set(
          e.op('Mul', [e.op('Mul', [g, e.op('Sigmoid', [g])]), this.value(n.inputs[1])], {}, out),
        )
      }
      case 'gelu':
        return void set(e.op('Gelu', [x()], { approximate: { s: n.i?.[0] ? 'tanh' : 'none' } }, out))
      case 'tanh':
        return void set(e.op('Tanh', [x()], {}, out))
      case 'relu':
        return void set(e.op('Relu', [x()], {}, out))
      case 'softmax':
        return void set(e.op('Softmax', [x()], { axis: -1 }, out))
      case 'slice_cols': {
        const [start, width] = n.i ?? [0, 0]
        return void set(e.op('Slice', [x(), e.ints([start]), e.ints([start + width]), e.ints([-1])], {}, out))
      }
      default: {
        const v = this.special(n, out)
        if (v === undefined)
          throw new KilnError('E_EXPORT', `ONNX export: kiln op "${n.op}" has no ONNX form here`)
        if (v !== null) set(v)
      }
    }
  }

  /** cos and sin of position × inv_freq, (B, S, 1, HS/2), made once per frequency table. */
  private angles(invFreq: number): { cos: string; sin: string } {
    const known = this.rotary.get(invFreq)
    if (known) return known
    const e = this.e
    const pos = e.op('Unsqueeze', [e.op('Cast', [this.positionIds()], { to: 1 }), e.ints([-1])]) // (B, S, 1)
    const freqs = e.op('Unsqueeze', [e.op('Mul', [pos, this.value(invFreq)]), e.ints([2])]) // (B, S, 1, HS/2)
    const a = { cos: e.op('Cos', [freqs], {}, '/rope/cos'), sin: e.op('Sin', [freqs], {}, '/rope/sin') }
    this.rotary.set(invFreq, a)
    return a
  }

  // x (B, S, H·HS) rotated: pairs (i, i + HS/2), or (2i, 2i + 1) when interleaved
  private rope(n: NodeSpec, out: string): string {
    const e = this.e
    const [H, HS, interleaved] = n.i ?? []
    const half = HS / 2
    let { cos, sin } = this.angles(n.inputs[2])
    let x1: string
    let x2: string
    let xs: string
    if (interleaved) {
      xs = e.op('Reshape', [this.value(n.inputs[0]), e.ints([0, 0, H, half, 2])]) // (B, S, H, HS/2, 2)
      x1 = e.op('Slice', [xs, e.ints([0]), e.ints([1]), e.ints([-1])])
      x2 = e.op('Slice', [xs, e.ints([1]), e.ints([2]), e.ints([-1])])
      cos = e.op('Unsqueeze', [cos, e.ints([-1])])
      sin = e.op('Unsqueeze', [sin, e.ints([-1])])
    } else {
      xs = e.op('Reshape', [this.value(n.inputs[0]), e.ints([0, 0, H, HS])]) // (B, S, H, HS)
      x1 = e.op('Slice', [xs, e.ints([0]), e.ints([half]), e.ints([-1])])
      x2 = e.op('Slice', [xs, e.ints([half]), e.ints([HS]), e.ints([-1])])
    }
    const r1 = e.op('Sub', [e.op('Mul', [x1, cos]), e.op('Mul', [x2, sin])])
    const r2 = e.op('Add', [e.op('Mul', [x2, cos]), e.op('Mul', [x1, sin])])
    return e.op('Reshape', [e.op('Concat', [r1, r2], { axis: -1 }), e.ints([0, 0, H * HS])], {}, out)
  }
}

/** A float32 view of `data`, copied when the file's bytes are not 4-byte aligned. */
function float32(data: ArrayBufferView): Float32Array {
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4)
  return new Float32Array(bytesOf(data).slice().buffer)
}

// (K, M) = w (M, K)ᵀ, in tiles so that both sides stay in cache
function transpose(w: Float32Array, M: number, K: number): Float32Array {
  const out = new Float32Array(M * K)
  const TILE = 32
  for (let m0 = 0; m0 < M; m0 += TILE)
    for (let k0 = 0; k0 < K; k0 += TILE)
      for (let m = m0; m < Math.min(m0 + TILE, M); m++)
        for (let k = k0; k < Math.min(k0 + TILE, K); k++) out[k * M + m] = w[m * K + k]
  return out
}
