// A decoder's kiln graph (the one the native engine runs, models/<family>/model.ts) written as an
// ONNX graph with past: optimum's inputs and outputs, so transformers.js's generation loop and
// ONNX Runtime drive it as they drive optimum's exports. Every kiln op maps to standard ONNX ops
// (opset ≥ 21) on (batch, sequence, features) tensors where kiln has rows (tokens of any sequence);
// the paged KV cache becomes past_key_values.{i} in and present.{i} out, and the attention mask
// is built once from attention_mask (padding) and the positions (causal).
import type { GraphSpec, NodeSpec } from '../../native.js'
import { FP32, GraphTranslator, type OnnxGraph, type WeightFormat } from './graph-ops.js'
import { valueInfo } from './proto.js'

/** float32's lowest value: the additive mask of a position a query may not see (optimum's). */
const MASKED = -3.4028234663852886e38

/** The dynamic axes, as optimum names them. */
export const B = 'batch_size'
const S = 'sequence_length'
export const P = 'past_sequence_length'
export const T = 'total_sequence_length'

export function decoderGraphToOnnx(
  spec: GraphSpec,
  vocabSize: number,
  format: WeightFormat = FP32,
): OnnxGraph {
  return new DecoderTranslator(spec, vocabSize, format).translate()
}

export type { OnnxGraph }

export class DecoderTranslator extends GraphTranslator {
  /** KV cache tensor id → its layer's present key or value (B, NKV, T, HS). */
  protected readonly present = new Map<number, string>()
  protected readonly layerOf = new Map<number, number>()
  private readonly masks = new Map<number, string>()

  constructor(
    spec: GraphSpec,
    protected readonly vocabSize: number,
    format: WeightFormat,
  ) {
    super(spec, format)
  }

  translate(): OnnxGraph {
    const { io } = this.spec
    this.inputs.push(valueInfo('input_ids', 'int64', [B, S]))
    this.inputs.push(valueInfo('attention_mask', 'int64', [B, T]))
    this.inputs.push(valueInfo('position_ids', 'int64', [B, S]))
    this.values.set(io.tokens, 'input_ids')
    this.values.set(io.positions, 'position_ids')
    for (const n of this.spec.nodes) {
      if (n.op === 'kv_store' && !this.layerOf.has(n.inputs[4])) {
        const layer = this.layerOf.size / 2
        this.layerOf.set(n.inputs[4], layer)
        this.layerOf.set(n.inputs[5], layer)
      }
    }
    this.translateNodes()
    const logits = this.e.op('Identity', [this.value(io.output)], {}, 'logits')
    this.outputs.unshift(valueInfo(logits, this.ft, [B, S, this.vocabSize]))
    return this.graph()
  }

  protected positionIds(): string {
    return 'position_ids'
  }

  protected special(n: NodeSpec, out: string): string | null | undefined {
    switch (n.op) {
      case 'kv_store':
        this.kvStore(n)
        return null
      case 'attention':
        return this.attention(n, out)
      case 'select_rows':
        // kiln computes logits only for the rows it samples from; an ONNX decoder returns them all.
        return this.value(n.inputs[0])
      default:
        return undefined
    }
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
      this.inputs.push(valueInfo(past, this.ft, [B, NKV, P, HS]))
      const heads = e.op('Transpose', [e.op('Reshape', [this.value(src), e.ints([0, 0, NKV, HS])])], {
        perm: [0, 2, 1, 3],
      })
      const present = e.op('Concat', [past, heads], { axis: 2 }, `present.${layer}.${kind}`)
      this.outputs.push(valueInfo(present, this.ft, [B, NKV, T, HS]))
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
    const probs = this.maskedSoftmax(e.op('Mul', [scores, this.float(n.f?.[0] ?? 1)]), this.mask(G))
    const ctx = e.op('MatMul', [probs, V]) // (B, NKV, G·S, HS)
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
