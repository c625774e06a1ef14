// The part of writing a kiln graph as ONNX that decoders and encoders share: kiln's row-wise ops
// (each row a token) on ONNX tensors of (batch, sequence, features), weights as initializers under
// their checkpoint names (a matmul's stored (in, out), as ONNX MatMul reads them), and shared
// rotary angles. What differs (inputs and outputs, attention, which rows come back) is a subclass's.
// The weight format says how weights and activations are stored: float32 or float16 throughout
// (norms, softmax and rotary angles computed in float32 either way, as transformers does), and
// matmul weights as floats, 8-bit columns (MatMulInteger) or 4-bit blocks (DequantizeLinear).
import { KilnError } from '../../errors.js'
import { allocBits, convertBits } from '../../formats/float.js'
import type { GraphSpec, NodeSpec, TensorSpec } from '../../native.js'
import { ROWS_FIXED } from '../../runtime/graph-builder.js'
import { bytesOf, type Initializer, OnnxEmitter } from './emitter.js'
import type { NodeProto, ValueInfoProto } from './proto.js'
import {
  INT4_BLOCK,
  quantizeInt4Blocks,
  quantizeInt4Columns,
  quantizeInt8Columns,
  type WeightView,
} from './quantize-weights.js'
import { SlabScratch, transposedBytes } from './transposed-bytes.js'

/** How an export stores weights and computes. */
export interface WeightFormat {
  /** Activations, inputs and outputs, and float weights. */
  float: 'float' | 'float16'
  /** Matmul weights: floats, int8 / uint8 columns (dynamic quantization), or int4 blocks of 32. */
  matmul: 'float' | 'int8' | 'uint8' | 'int4'
  /**
   * ONNX Runtime's fused contrib ops (--optimize ort): int4 weights through MatMulNBits rather than
   * DequantizeLinear + MatMul (and, in a decoder, the fused norms and attention).
   */
  fused?: boolean
}

/** MatMulNBits' accuracy_level: 4 computes int4 × int8 (activations quantized per block), the
 * fastest CPU path, as ONNX Runtime GenAI's model builder chooses for CPU. */
export const MATMUL_NBITS_ACCURACY = 4

export const FP32: WeightFormat = { float: 'float', matmul: 'float' }

/** ONNX's TensorProto data type numbers of the float types (Cast's `to`). */
const CAST_TO = { float: 1, float16: 10 } as const

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
  /** Weights that stay float32 whatever the format (rotary frequencies). */
  private readonly exact = new Set<number>()
  private readonly rotary = new Map<number, { cos: string; sin: string }>()
  private readonly matmulWeights = new Map<number, (x: string) => string>()
  private readonly scratch = new SlabScratch()
  /** The float type of activations, inputs and outputs. */
  protected readonly ft: WeightFormat['float']

  constructor(
    protected readonly spec: GraphSpec,
    protected readonly format: WeightFormat = FP32,
  ) {
    this.tensors = spec.tensors
    this.ft = format.float
    for (const n of spec.nodes) {
      if (n.op === 'matmul' && n.i?.[0] === 0) this.transposed.add(n.inputs[1])
      if (n.op === 'rope') this.exact.add(n.inputs[2])
    }
  }

  /** A float constant of the activations' type. */
  protected float(v: number): string {
    return this.e.float(v, this.ft)
  }

  /** `x` cast to float32 (for norms and softmax in float16 graphs), or `x` itself. */
  protected toFloat32(x: string): string {
    return this.ft === 'float' ? x : this.e.op('Cast', [x], { to: CAST_TO.float })
  }

  /** `x` (float32) cast back to the activations' type. */
  protected fromFloat32(x: string, out?: string): string {
    return this.ft === 'float' ? x : this.e.op('Cast', [x], { to: CAST_TO[this.format.float] }, out)
  }

  /**
   * softmax(scores + mask) over the last axis, in float32 (transformers' upcast): scores of the
   * activations' type, the mask float32.
   */
  protected maskedSoftmax(scores: string, mask: string): string {
    const e = this.e
    return this.fromFloat32(e.op('Softmax', [e.op('Add', [this.toFloat32(scores), mask])], { axis: -1 }))
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

  /** A float weight's values as the checkpoint stores them. */
  private floatData(id: number): Float32Array {
    const t = this.tensors[id]
    if (t.dtype !== 'f32')
      throw new KilnError('E_EXPORT', `ONNX export: weight "${t.name}" is ${t.dtype}, not f32`)
    return float32(t.data as ArrayBufferView)
  }

  /** A matmul weight as the (K, M) ONNX reads, over the checkpoint's values (nothing copied). */
  private weightView(id: number): WeightView {
    const t = this.tensors[id]
    const data = this.floatData(id)
    if (this.transposed.has(id) && t.shape.length === 2) {
      const [M, K] = t.shape
      return { data, K, M, kStride: 1, mStride: K }
    }
    const [K, M] = t.shape
    return { data, K, M, kStride: M, mStride: 1 }
  }

  private weight(id: number, t: TensorSpec): string {
    if (t.dtype === 'i32')
      return this.e.initializer(t.name, 'int32', t.shape, bytesOf(t.data as ArrayBufferView))
    const data = this.floatData(id)
    const half = this.ft !== 'float' && !this.exact.has(id)
    const type = half ? 'float16' : 'float'
    // A matmul weight (M, K) is stored as (K, M), MatMul's order, transposed as it is written.
    if (this.transposed.has(id) && t.shape.length === 2) {
      const [M, K] = t.shape
      return this.e.initializer(t.name, type, [K, M], transposedBytes(data, M, K, half, this.scratch))
    }
    if (!half) return this.e.initializer(t.name, type, t.shape, bytesOf(data))
    const bits = allocBits('F16', data.length)
    convertBits(new Uint32Array(data.buffer, data.byteOffset, data.length), 'F32', bits, 'F16')
    return this.e.initializer(t.name, type, t.shape, bytesOf(bits))
  }

  // (…, M) = x (…, K) · w (K, M), as the format stores w
  private matmul(x: string, id: number, out?: string): string {
    let apply = this.matmulWeights.get(id)
    if (!apply) {
      apply = this.matmulOf(id)
      this.matmulWeights.set(id, apply)
    }
    const y = apply(x)
    return out ? this.e.op('Identity', [y], {}, out) : y
  }

  private matmulOf(id: number): (x: string) => string {
    const e = this.e
    const name = this.tensors[id].name
    const kind = this.format.matmul
    if (kind === 'float') {
      const w = this.value(id)
      return (x) => e.op('MatMul', [x, w])
    }
    const w = this.weightView(id)
    const { K, M } = w
    if (kind === 'int4' && this.format.fused) {
      // MatMulNBits (com.microsoft): B (N, K/32, 16) uint8, column n's blocks along K, two values a
      // byte low nibble first, stored + 8 (its default zero point for 4 bits); scales (N · K/32).
      const { packed, scale } = quantizeInt4Columns(w)
      const blocks = Math.ceil(K / INT4_BLOCK)
      const b = e.initializer(`${name}_Q4`, 'uint8', [M, blocks, INT4_BLOCK / 2], packed)
      const s = e.initializer(`${name}_scales`, 'float', [M * blocks], bytesOf(scale))
      const attrs = { K, N: M, bits: 4, block_size: INT4_BLOCK, accuracy_level: MATMUL_NBITS_ACCURACY }
      return (x) => e.op('MatMulNBits', [x, b, s], attrs, undefined, 'com.microsoft')
    }
    if (kind === 'int4') {
      const { packed, scale } = quantizeInt4Blocks(w)
      const q = e.initializer(`${name}_Q4`, 'int4', [K, M], packed)
      const s = e.initializer(`${name}_scales`, 'float', [Math.ceil(K / INT4_BLOCK), M], bytesOf(scale))
      const dq = e.op(
        'DequantizeLinear',
        [q, s],
        { axis: 0, block_size: INT4_BLOCK },
        `${name}_DequantizeLinear`,
      )
      return (x) => e.op('MatMul', [x, dq])
    }
    // Dynamic quantization (ONNX Runtime's quantize_dynamic): x to uint8 per call, an integer
    // matmul, then both scales: y = (x_q − x_zero)(w_q − w_zero) · x_scale · w_scale
    const signed = kind === 'int8'
    const { q, scale, zero } = quantizeInt8Columns(w, signed)
    const type = signed ? 'int8' : 'uint8'
    const wq = e.initializer(`${name}_quantized`, type, [K, M], q)
    const ws = e.initializer(`${name}_scale`, 'float', [M], bytesOf(scale))
    const wz = e.initializer(`${name}_zero_point`, type, [M], zero)
    return (x) => {
      const [xq, xs, xz] = e.opN('DynamicQuantizeLinear', [x], 3)
      const acc = e.op('MatMulInteger', [xq, wq, xz, wz]) // int32
      return e.op('Mul', [e.op('Cast', [acc], { to: CAST_TO.float }), e.op('Mul', [xs, ws])])
    }
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
        const y = this.matmul(x(), w, bias >= 0 ? undefined : out)
        return void set(bias >= 0 ? e.op('Add', [y, this.value(bias)], {}, out) : y)
      }
      case 'rmsnorm': {
        // x / sqrt(mean(x²) + eps) · w in standard ops (RMSNormalization is opset 23), in float32
        // (x² overflows float16)
        const v = this.toFloat32(x())
        const ms = e.op('ReduceMean', [e.op('Mul', [v, v]), e.ints([-1])], { keepdims: 1 })
        const rms = e.op('Sqrt', [e.op('Add', [ms, e.float(n.f?.[0] ?? 0)])])
        return void set(
          e.op('Mul', [this.fromFloat32(e.op('Div', [v, rms])), this.value(n.inputs[1])], {}, out),
        )
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
        return void set(this.fromFloat32(e.op('Softmax', [this.toFloat32(x())], { axis: -1 }), out))
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
    const pos = e.op('Unsqueeze', [e.op('Cast', [this.positionIds()], { to: CAST_TO.float }), e.ints([-1])]) // (B, S, 1)
    const freqs = e.op('Unsqueeze', [e.op('Mul', [pos, this.value(invFreq)]), e.ints([2])]) // (B, S, 1, HS/2)
    // Angles in float32; their cos and sin in the activations' type (transformers' rotary embedding).
    const a = {
      cos: this.fromFloat32(e.op('Cos', [freqs]), '/rope/cos'),
      sin: this.fromFloat32(e.op('Sin', [freqs]), '/rope/sin'),
    }
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
