// The decoder graph with ONNX Runtime's fused contrib ops (com.microsoft), as ONNX Runtime GenAI's
// model builder emits them (--optimize ort): GroupQueryAttention does rotary, the KV append and
// causal attention in one node per layer; a residual add and the RMSNorm after it are one
// SkipSimplifiedLayerNormalization; int4 weights go through MatMulNBits. Inputs and outputs are the
// standard graph's (position_ids stays an input: GPT-2 reads it; with rotary inside attention, a
// llama graph reads positions from the cache length instead, so sequences are right-aligned: one
// sequence, or a batch without left padding, as onnxruntime-genai feeds them).
import { KilnError, option } from '../../errors.js'
import type { GraphSpec, NodeSpec } from '../../native.js'
import { B, DecoderTranslator, P, T } from './decoder-graph.js'
import { bytesOf } from './emitter.js'
import type { OnnxGraph, WeightFormat } from './graph-ops.js'
import { valueInfo } from './proto.js'

const MS = 'com.microsoft'

export function fusedDecoderGraphToOnnx(
  spec: GraphSpec,
  vocabSize: number,
  format: WeightFormat,
  maxPositions: number,
): OnnxGraph {
  return new FusedDecoderTranslator(spec, vocabSize, { ...format, fused: true }, maxPositions).translate()
}

class FusedDecoderTranslator extends DecoderTranslator {
  /** kiln's rope nodes by output: attention rotates inside (their input, frequencies, layout). */
  private readonly ropes = new Map<number, NodeSpec>()
  /** An add whose sum an RMSNorm reads (through row selection): fused into one node. */
  private readonly skipNorms = new Map<number, NodeSpec>()
  /** Norm nodes already written by their add. */
  private readonly fusedNorms = new Set<NodeSpec>()
  /** Layer (by k cache id) → its unrotated k and v (B, S, ·), recorded at kv_store. */
  private readonly stored = new Map<number, { k: number; v: number }>()
  private caches?: { cos: string; sin: string }
  private lengths?: { seqlens: string; total: string }

  constructor(
    spec: GraphSpec,
    vocabSize: number,
    format: WeightFormat,
    private readonly maxPositions: number,
  ) {
    super(spec, vocabSize, format)
    if (format.float !== 'float')
      throw new KilnError('E_EXPORT', `${option('optimize')} ort writes float32 activations (fp32 or q4)`)
    const producers = new Map<number, NodeSpec>()
    for (const n of spec.nodes) producers.set(n.output, n)
    for (const n of spec.nodes) {
      // GroupQueryAttention rotates heads whose size is a multiple of 16 (ONNX Runtime's kernel);
      // other heads are rotated by the standard ops before it.
      if (n.op === 'rope' && (n.i?.[1] ?? 0) % 16 === 0) this.ropes.set(n.output, n)
      if (n.op !== 'rmsnorm') continue
      let src = producers.get(n.inputs[0])
      if (src?.op === 'select_rows') src = producers.get(src.inputs[0])
      if (src?.op === 'add' && !this.skipNorms.has(src.output)) this.skipNorms.set(src.output, n)
    }
  }

  protected node(n: NodeSpec): void {
    const e = this.e
    if (n.op === 'rope' && this.ropes.has(n.output)) {
      // Rotated inside GroupQueryAttention: q and k stay as projected.
      this.values.set(n.output, this.value(n.inputs[0]))
      return
    }
    if (n.op === 'rmsnorm' && this.fusedNorms.has(n)) return
    if (n.op === 'rmsnorm') {
      const out = e.op(
        'SimplifiedLayerNormalization',
        [this.value(n.inputs[0]), this.value(n.inputs[1])],
        { axis: -1, epsilon: { f: n.f?.[0] ?? 0 } },
        `/${this.tensors[n.output].name}`,
      )
      this.values.set(n.output, out)
      return
    }
    const norm = n.op === 'add' ? this.skipNorms.get(n.output) : undefined
    if (norm) {
      // sum = a + b, normed = RMSNorm(sum) · w: outputs normed, mean, inv_std_var, sum.
      const [normed, , , sum] = e.opN(
        'SkipSimplifiedLayerNormalization',
        [this.value(n.inputs[0]), this.value(n.inputs[1]), this.value(norm.inputs[1])],
        4,
        { epsilon: { f: norm.f?.[0] ?? 0 } },
        MS,
        [
          `/${this.tensors[norm.output].name}`,
          '/skip_mean',
          '/skip_inv_std',
          `/${this.tensors[n.output].name}`,
        ],
      )
      this.values.set(n.output, sum)
      this.values.set(norm.output, normed)
      this.fusedNorms.add(norm)
      return
    }
    super.node(n)
  }

  protected special(n: NodeSpec, out: string): string | null | undefined {
    if (n.op === 'kv_store') {
      this.stored.set(n.inputs[4], { k: n.inputs[0], v: n.inputs[1] })
      return null
    }
    if (n.op === 'attention') return this.groupQueryAttention(n, out)
    return super.special(n, out)
  }

  /** seqlens_k (B) int32: each sequence's total length − 1; total_sequence_length, a scalar int32. */
  private sequenceLengths(): { seqlens: string; total: string } {
    if (this.lengths) return this.lengths
    const e = this.e
    const summed = e.op('ReduceSum', ['attention_mask', e.ints([1])], { keepdims: 0 })
    const seqlens = e.op('Cast', [e.op('Sub', [summed, e.ints([1], true)])], { to: 6 }, '/seqlens_k')
    const total = e.op(
      'Cast',
      [e.op('Squeeze', [e.op('Shape', ['attention_mask'], { start: 1, end: 2 }), e.ints([0])])],
      { to: 6 },
      '/total_sequence_length',
    )
    this.lengths = { seqlens, total }
    return this.lengths
  }

  /** cos and sin of p · inv_freq for every position p < max positions: (P, HS/2) each. */
  private rotaryCaches(invFreq: number): { cos: string; sin: string } {
    if (this.caches) return this.caches
    const t = this.tensors[invFreq]
    const f = t.data as Float32Array
    const freqs = new Float32Array(f.buffer, f.byteOffset, t.shape[0])
    const half = freqs.length
    const cos = new Float32Array(this.maxPositions * half)
    const sin = new Float32Array(this.maxPositions * half)
    for (let p = 0; p < this.maxPositions; p++)
      for (let i = 0; i < half; i++) {
        // The angle rounded to float32 first, as the standard graph (and kiln) computes it.
        const angle = Math.fround(p * freqs[i])
        cos[p * half + i] = Math.cos(angle)
        sin[p * half + i] = Math.sin(angle)
      }
    this.caches = {
      cos: this.e.initializer('cos_cache', 'float', [this.maxPositions, half], bytesOf(cos)),
      sin: this.e.initializer('sin_cache', 'float', [this.maxPositions, half], bytesOf(sin)),
    }
    return this.caches
  }

  // GroupQueryAttention(q, k, v, past_key, past_value, seqlens_k, total_sequence_length[, cos, sin])
  private groupQueryAttention(n: NodeSpec, out: string): string {
    const [q, , , kcache, vcache] = n.inputs
    const [, NKV, , HS] = this.tensors[kcache].shape
    const NH = n.i?.[0] ?? NKV
    const layer = this.layerOf.get(kcache) as number
    const kv = this.stored.get(kcache)
    if (!kv) throw new Error('attention before kv_store')
    const qRope = this.ropes.get(q)
    const kRope = this.ropes.get(kv.k)
    const rotary = qRope !== undefined && kRope !== undefined
    const { seqlens, total } = this.sequenceLengths()
    const inputs = [
      this.value(q),
      this.value(kv.k),
      this.value(kv.v),
      `past_key_values.${layer}.key`,
      `past_key_values.${layer}.value`,
      seqlens,
      total,
    ]
    if (rotary) {
      const { cos, sin } = this.rotaryCaches(qRope.inputs[2])
      inputs.push(cos, sin)
    }
    for (const kind of ['key', 'value']) {
      this.inputs.push(valueInfo(`past_key_values.${layer}.${kind}`, this.ft, [B, NKV, P, HS]))
      this.outputs.push(valueInfo(`present.${layer}.${kind}`, this.ft, [B, NKV, T, HS]))
    }
    const [attn] = this.e.opN(
      'GroupQueryAttention',
      inputs,
      3,
      {
        num_heads: NH,
        kv_num_heads: NKV,
        scale: { f: n.f?.[0] ?? 1 / Math.sqrt(HS) },
        do_rotary: rotary ? 1 : 0,
        rotary_interleaved: rotary && qRope.i?.[2] ? 1 : 0,
      },
      MS,
      [out, `present.${layer}.key`, `present.${layer}.value`],
    )
    this.present.set(kcache, `present.${layer}.key`)
    this.present.set(vcache, `present.${layer}.value`)
    return attn
  }
}
