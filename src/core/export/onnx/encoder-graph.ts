// An encoder's kiln graph (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) written as the ONNX graph optimum
// exports for its task: inputs input_ids, attention_mask (and token_type_ids where the model has
// token types), output last_hidden_state (feature-extraction) or the head's logits. Position ids are
// computed inside the graph as transformers computes them, so callers feed what a tokenizer gives.
import type { GraphSpec, NodeSpec } from '../../native.js'
import { FP32, GraphTranslator, type OnnxGraph, type WeightFormat } from './graph-ops.js'
import { valueInfo } from './proto.js'

/** float32's lowest value: the additive mask of a padding key (optimum's). */
const MASKED = -3.4028234663852886e38

const B = 'batch_size'
const S = 'sequence_length'

export interface EncoderGraphOptions {
  /** The output's name: last_hidden_state, or logits for a head. */
  output: 'last_hidden_state' | 'logits'
  /** Rows that come back: every token's, or the first one's ([CLS] / <s>: sequence classification). */
  rows: 'all' | 'first'
  /** Columns of the output: hidden size, labels or vocabulary. */
  cols: number
  /**
   * RoBERTa's padding_idx + 1: positions count the tokens that are not padding (transformers'
   * create_position_ids_from_input_ids), and kiln's table starts at that row. 0 for BERT: 0..S-1.
   */
  positionOffset: number
}

export function encoderGraphToOnnx(
  spec: GraphSpec,
  opts: EncoderGraphOptions,
  format: WeightFormat = FP32,
): OnnxGraph {
  return new EncoderTranslator(spec, opts, format).translate()
}

class EncoderTranslator extends GraphTranslator {
  private positions?: string
  private mask?: string

  constructor(
    spec: GraphSpec,
    private readonly opts: EncoderGraphOptions,
    format: WeightFormat,
  ) {
    super(spec, format)
  }

  translate(): OnnxGraph {
    const { io } = this.spec
    this.inputs.push(valueInfo('input_ids', 'int64', [B, S]))
    this.inputs.push(valueInfo('attention_mask', 'int64', [B, S]))
    this.values.set(io.tokens, 'input_ids')
    if (io.types !== undefined) {
      this.inputs.push(valueInfo('token_type_ids', 'int64', [B, S]))
      this.values.set(io.types, 'token_type_ids')
    }
    this.values.set(io.positions, this.positionIds())
    this.translateNodes()
    const out = this.e.op('Identity', [this.value(io.output)], {}, this.opts.output)
    const dims = this.opts.rows === 'first' ? [B, this.opts.cols] : [B, S, this.opts.cols]
    this.outputs.push(valueInfo(out, this.ft, dims))
    return this.graph()
  }

  // (1, S) for BERT; (B, S) counting non-padding tokens for RoBERTa (kiln's rows, offset removed)
  protected positionIds(): string {
    if (this.positions) return this.positions
    const e = this.e
    if (this.opts.positionOffset === 0) {
      const seq = e.op('Squeeze', [e.op('Shape', ['input_ids'], { start: 1, end: 2 }), e.ints([0])])
      this.positions = e.op(
        'Unsqueeze',
        [e.op('Range', [e.ints([0], true), seq, e.ints([1], true)]), e.ints([0])],
        {},
        '/position_ids',
      )
    } else {
      const pad = this.opts.positionOffset - 1
      const real = e.op('Cast', [e.op('Not', [e.op('Equal', ['input_ids', e.ints([pad], true)])])], { to: 7 })
      const counted = e.op('Sub', [e.op('CumSum', [real, e.ints([1], true)]), e.ints([1], true)])
      // Padding tokens read row 0: their outputs are never looked at, and no token attends to them.
      this.positions = e.op('Max', [e.op('Mul', [counted, real]), e.ints([0], true)], {}, '/position_ids')
    }
    return this.positions
  }

  protected special(n: NodeSpec, out: string): string | null | undefined {
    const e = this.e
    switch (n.op) {
      case 'bidir_attention':
        return this.attention(n, out)
      case 'select_rows':
        return this.opts.rows === 'all'
          ? this.value(n.inputs[0])
          : e.op('Gather', [this.value(n.inputs[0]), e.ints([0], true)], { axis: 1 }, out) // (B, C)
      default:
        return undefined
    }
  }

  // q, k, v (B, S, ·): every token attends to every token of its sequence but padding
  private attention(n: NodeSpec, out: string): string {
    const e = this.e
    const [q, k, v] = n.inputs
    const NH = n.i?.[0] ?? 1
    const HS = this.tensors[q].shape[1] / NH
    const NKV = this.tensors[k].shape[1] / HS
    const heads = (x: number, H: number) =>
      e.op('Transpose', [e.op('Reshape', [this.value(x), e.ints([0, 0, H, HS])])], { perm: [0, 2, 1, 3] })
    const G = NH / NKV
    const qh = G === 1 ? heads(q, NH) : e.op('Reshape', [heads(q, NH), e.ints([0, NKV, -1, HS])])
    const scores = e.op('MatMul', [qh, e.op('Transpose', [heads(k, NKV)], { perm: [0, 1, 3, 2] })])
    const probs = this.maskedSoftmax(e.op('Mul', [scores, this.float(n.f?.[0] ?? 1)]), this.paddingMask())
    const ctx = e.op('MatMul', [probs, heads(v, NKV)])
    const perHead = G === 1 ? ctx : e.op('Reshape', [ctx, e.ints([0, NH, -1, HS])])
    return e.op(
      'Reshape',
      [e.op('Transpose', [perHead], { perm: [0, 2, 1, 3] }), e.ints([0, 0, NH * HS])],
      {},
      out,
    )
  }

  /** (B, 1, 1, S): 0 for a key that is a token, float32's lowest value for padding. */
  private paddingMask(): string {
    if (this.mask) return this.mask
    const e = this.e
    const keep = e.op('Unsqueeze', [e.op('Cast', ['attention_mask'], { to: 9 }), e.ints([1, 2])])
    this.mask = e.op('Where', [keep, e.float(0), e.float(MASKED)], {}, '/mask')
    return this.mask
  }
}
