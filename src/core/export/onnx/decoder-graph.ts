// A decoder's kiln graph (the one the native engine runs, models/<family>/model.ts) written as an
// ONNX graph with past: optimum's inputs and outputs, so transformers.js's generation loop and
// ONNX Runtime drive it as they drive optimum's exports. Every kiln op maps to standard ONNX ops
// (opset ≥ 21) on (batch, sequence, features) tensors where kiln has rows (tokens of any sequence);
// the paged KV cache becomes past_key_values.{i} in and present.{i} out, and the attention mask
// is built once from attention_mask (padding) and the positions (causal).
import { KilnError } from '../../errors.js'
import type { GraphSpec, NodeSpec, TensorSpec } from '../../native.js'
import { ROWS_FIXED } from '../../runtime/graph-builder.js'
import { bytesOf, type Initializer, OnnxEmitter } from './emitter.js'
import { type Dim, type NodeProto, type ValueInfoProto, valueInfo } from './proto.js'

export interface OnnxGraph {
  nodes: NodeProto[]
  initializers: Initializer[]
  inputs: ValueInfoProto[]
  outputs: ValueInfoProto[]
}

/** float32's lowest value: the additive mask of a position a query may not see (optimum's). */
const MASKED = -3.4028234663852886e38

const B = 'batch_size'
const S = 'sequence_length'
const P = 'past_sequence_length'
const T = 'total_sequence_length'

export function decoderGraphToOnnx(spec: GraphSpec, vocabSize: number): OnnxGraph {
  return new DecoderTranslator(spec, vocabSize).translate()
}

class DecoderTranslator {
  private readonly e = new OnnxEmitter()
  private readonly tensors: TensorSpec[]
  /** kiln tensor id → the ONNX value holding it. */
  private readonly values = new Map<number, string>()
  /** KV cache tensor id → its layer's present key or value (B, NKV, T, HS). */
  private readonly present = new Map<number, string>()
  private readonly layerOf = new Map<number, number>()
  private readonly inputs: ValueInfoProto[] = []
  private readonly outputs: ValueInfoProto[] = []
  /** Weights a matmul reads as (M, K): stored transposed, as (K, M), ONNX MatMul's order. */
  private readonly transposed = new Set<number>()
  private readonly rotary = new Map<number, { cos: string; sin: string }>()
  private readonly masks = new Map<number, string>()

  constructor(
    private readonly spec: GraphSpec,
    private readonly vocabSize: number,
  ) {
    this.tensors = spec.tensors
  }

  translate(): OnnxGraph {
    const { io } = this.spec
    this.inputs.push(valueInfo('input_ids', 'int64', [B, S]))
    this.inputs.push(valueInfo('attention_mask', 'int64', [B, T]))
    this.inputs.push(valueInfo('position_ids', 'int64', [B, S]))
    this.values.set(io.tokens, 'input_ids')
    this.values.set(io.positions, 'position_ids')
    for (const n of this.spec.nodes) {
      if (n.op === 'matmul' && n.i?.[0] === 0) this.transposed.add(n.inputs[1])
      if (n.op === 'kv_store' && !this.layerOf.has(n.inputs[4])) {
        const layer = this.layerOf.size / 2
        this.layerOf.set(n.inputs[4], layer)
        this.layerOf.set(n.inputs[5], layer)
      }
    }
    for (const n of this.spec.nodes) this.node(n)
    const logits = this.e.op('Identity', [this.value(io.output)], {}, 'logits')
    this.outputs.unshift(valueInfo(logits, 'float', [B, S, this.vocabSize]))
    return {
      nodes: this.e.nodes,
      initializers: this.e.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    }
  }

  /** The ONNX value of a kiln tensor: an op's output, an input, or a weight made an initializer. */
  private value(id: number): string {
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

  private node(n: NodeSpec): void {
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
      case 'kv_store':
        return this.kvStore(n)
      case 'attention':
        return void set(this.attention(n, out))
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
      case 'select_rows':
        // kiln computes logits only for the rows it samples from; an ONNX decoder returns them all.
        return void set(x())
      case 'slice_cols': {
        const [start, width] = n.i ?? [0, 0]
        return void set(e.op('Slice', [x(), e.ints([start]), e.ints([start + width]), e.ints([-1])], {}, out))
      }
      default:
        throw new KilnError('E_EXPORT', `ONNX export: kiln op "${n.op}" has no ONNX form in a decoder`)
    }
  }

  /** cos and sin of position × inv_freq, (B, S, 1, HS/2), made once per frequency table. */
  private angles(invFreq: number): { cos: string; sin: string } {
    const known = this.rotary.get(invFreq)
    if (known) return known
    const e = this.e
    const pos = e.op('Unsqueeze', [e.op('Cast', ['position_ids'], { to: 1 }), e.ints([-1])]) // (B, S, 1)
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

  // k, v (B, S, NKV·HS) appended to the layer's past: present (B, NKV, P + S, HS)
  private kvStore(n: NodeSpec): void {
    const e = this.e
    const [k, v, , , kcache, vcache] = n.inputs
    const [, NKV, , HS] = this.tensors[kcache].shape
    const layer = this.layerOf.get(kcache) as number
    for (const [src, cache, kind] of [
      [k, kcache, 'key'],
      [v, vcache, 'value'],
    ] as const) {
      const past = `past_key_values.${layer}.${kind}`
      this.inputs.push(valueInfo(past, 'float', [B, NKV, P, HS]))
      const heads = e.op('Transpose', [e.op('Reshape', [this.value(src), e.ints([0, 0, NKV, HS])])], {
        perm: [0, 2, 1, 3],
      })
      const present = e.op('Concat', [past, heads], { axis: 2 }, `present.${layer}.${kind}`)
      this.outputs.push(valueInfo(present, 'float', [B, NKV, T, HS]))
      this.present.set(cache, present)
    }
  }

  // q (B, S, NH·HS) attends over the layer's present keys and values, grouped: the NH/NKV query
  // heads that share a KV head are stacked along the rows, so K and V are never repeated.
  private attention(n: NodeSpec, out: string): string {
    const e = this.e
    const [q, , , kcache, vcache] = n.inputs
    const [, NKV, , HS] = this.tensors[kcache].shape
    const NH = n.i?.[0] ?? NKV
    const G = NH / NKV
    const K = this.present.get(kcache)
    const V = this.present.get(vcache)
    if (!K || !V) throw new Error('attention before kv_store')
    const heads = e.op('Transpose', [e.op('Reshape', [this.value(q), e.ints([0, 0, NH, HS])])], {
      perm: [0, 2, 1, 3],
    }) // (B, NH, S, HS)
    const grouped = G === 1 ? heads : e.op('Reshape', [heads, e.ints([0, NKV, -1, HS])]) // (B, NKV, G·S, HS)
    const scores = e.op('MatMul', [grouped, e.op('Transpose', [K], { perm: [0, 1, 3, 2] })]) // (B, NKV, G·S, T)
    const scaled = e.op('Add', [e.op('Mul', [scores, e.float(n.f?.[0] ?? 1)]), this.mask(G)])
    const ctx = e.op('MatMul', [e.op('Softmax', [scaled], { axis: -1 }), V]) // (B, NKV, G·S, HS)
    const perHead = G === 1 ? ctx : e.op('Reshape', [ctx, e.ints([0, NH, -1, HS])]) // (B, NH, S, HS)
    return e.op(
      'Reshape',
      [e.op('Transpose', [perHead], { perm: [0, 2, 1, 3] }), e.ints([0, 0, NH * HS])],
      {},
      out,
    )
  }

  /**
   * The additive mask (B, 1, G·S, T): 0 where query s (at position P + s) may see key t (t ≤ P + s
   * and attention_mask[t] = 1), float32's lowest value elsewhere; the S rows repeated G times.
   */
  private mask(G: number): string {
    const known = this.masks.get(G)
    if (known) return known
    const e = this.e
    let mask: string
    if (G === 1) {
      const scalar = (name: string, axis: number) =>
        e.op('Squeeze', [e.op('Shape', [name], { start: axis, end: axis + 1 }), e.ints([0])])
      const total = scalar('attention_mask', 1)
      const seq = scalar('input_ids', 1)
      const keys = e.op('Range', [e.ints([0], true), total, e.ints([1], true)]) // (T)
      const queries = e.op('Range', [e.op('Sub', [total, seq]), total, e.ints([1], true)]) // (S): P + s
      const causal = e.op('LessOrEqual', [
        e.op('Unsqueeze', [keys, e.ints([0])]),
        e.op('Unsqueeze', [queries, e.ints([1])]),
      ]) // (S, T)
      const padding = e.op('Unsqueeze', [e.op('Cast', ['attention_mask'], { to: 9 }), e.ints([1, 2])]) // (B, 1, 1, T)
      mask = e.op('Where', [e.op('And', [causal, padding]), e.float(0), e.float(MASKED)], {}, '/mask') // (B, 1, S, T)
    } else {
      mask = e.op('Tile', [this.mask(1), e.ints([1, 1, G, 1])], {}, `/mask_x${G}`)
    }
    this.masks.set(G, mask)
    return mask
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

export type { Dim }
