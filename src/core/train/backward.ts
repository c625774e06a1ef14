// Reverse-mode differentiation of a training graph's forward nodes, emitted as more nodes of the
// same list: each forward op's gradient comes from its `<op>_backward` kernels (or, where the
// gradient is itself a forward op, that op: a matmul's input gradient is a matmul by the same
// weight, transposed; scale's is scale). Gradients reaching one activation from several uses are
// summed with add nodes; parameters' gradients are accumulated in place by the weight-gradient ops.
import { UsageError } from '../errors.js'
import type { NodeSpec } from '../native.js'
import type { TensorId } from '../runtime/graph-builder.js'
import type { TrainGraphBuilder } from './train-graph-builder.js'

/**
 * Appends the backward of the forward nodes, seeded by the loss's gradient with respect to `seed`
 * (the logits, or the head's input when the loss is chunked and has done the head's backward). With
 * `checkpoint`, each transformer layer's activations are recomputed just before its backward (from
 * the layer's input, which is kept) instead of being kept from the forward: no backward node reads
 * a layer's inner activations, so the buffer planner reuses their memory as soon as the forward has
 * passed them, and a step holds one layer's activations at a time, for one more forward of compute.
 */
export function buildBackward(
  g: TrainGraphBuilder,
  forward: readonly NodeSpec[],
  seed: { tensor: TensorId; grad: TensorId },
  opts: { checkpoint?: boolean } = {},
): void {
  // Only what depends on a parameter needs a gradient.
  const needs = new Set<TensorId>(g.params.map((p) => p.id))
  for (const nd of forward) if (nd.inputs.some((t) => needs.has(t))) needs.add(nd.output)
  const grads = new Map<TensorId, TensorId>()
  // A recomputed activation → the forward's tensor it stands for (gradients are keyed by those).
  const original = new Map<TensorId, TensorId>()
  const accumulate = (t: TensorId, d: TensorId) => {
    const key = original.get(t) ?? t
    if (!needs.has(key) || g.parameter(key)) return
    const prev = grads.get(key)
    grads.set(key, prev === undefined ? d : g.add2(`${g.tensors[key].name}.grad_sum`, prev, d))
  }
  const segments = opts.checkpoint ? layerSegments(g, forward) : new Map<number, number>()
  // A forward tensor → its recomputation, for the layer whose backward is being built.
  let recomputed = new Map<TensorId, TensorId>()
  grads.set(seed.tensor, seed.grad)
  for (let i = forward.length - 1; i >= 0; i--) {
    const start = segments.get(i)
    if (start !== undefined) recomputed = recompute(g, forward.slice(start, i + 1), original)
    const nd = forward[i]
    const dy = grads.get(nd.output)
    if (dy === undefined) continue
    const inputs = nd.inputs.map((t) => recomputed.get(t) ?? t)
    backwardOf(g, { ...nd, inputs, output: recomputed.get(nd.output) ?? nd.output }, dy, accumulate)
  }
}

/** Each transformer layer's node range: its last node's index → its first's (names say the layer). */
function layerSegments(g: TrainGraphBuilder, forward: readonly NodeSpec[]): Map<number, number> {
  const layerOf = (nd: NodeSpec) => /(?:^|\.)(?:layers|h)\.(\d+)\./.exec(g.tensors[nd.output].name)?.[1]
  const ends = new Map<number, number>()
  let start = -1
  for (let i = 0; i < forward.length; i++) {
    const layer = layerOf(forward[i])
    if (layer === undefined) continue
    if (start < 0 || layerOf(forward[start]) !== layer) start = i
    if (layerOf(forward[i + 1] ?? forward[i]) !== layer || i === forward.length - 1) ends.set(i, start)
  }
  return ends
}

/** Emits the nodes again with fresh outputs, fed by each other's; returns forward tensor → copy. */
function recompute(
  g: TrainGraphBuilder,
  nodes: readonly NodeSpec[],
  original: Map<TensorId, TensorId>,
): Map<TensorId, TensorId> {
  const copies = new Map<TensorId, TensorId>()
  for (const nd of nodes) {
    const out = g.recomputedOutput(nd.output)
    g.emit({ ...nd, inputs: nd.inputs.map((t) => copies.get(t) ?? t), output: out })
    copies.set(nd.output, out)
    original.set(out, nd.output)
  }
  return copies
}

function backwardOf(
  g: TrainGraphBuilder,
  nd: NodeSpec,
  dy: TensorId,
  accumulate: (t: TensorId, d: TensorId) => void,
): void {
  const [a, b, c] = nd.inputs
  const name = g.tensors[nd.output].name
  switch (nd.op) {
    case 'matmul': {
      const kxm = nd.i?.[0] === 1
      // dx = dy·w: a matmul by w the other way round, or for a block-quantized w (QLoRA), which
      // the matmul kernels read only as rows, the kernel that dequantizes it tile by tile.
      const quantized = !['f32', 'f16', 'bf16'].includes(g.tensors[b].dtype)
      accumulate(
        a,
        quantized
          ? g.matmulBackwardInput(`${name}.x_grad`, dy, b)
          : g.plainMatmul(`${name}.x_grad`, dy, b, !kxm),
      )
      const w = g.parameter(b)
      if (w) g.matmulBackwardWeight(dy, a, w.grad, kxm)
      const bias = c >= 0 ? g.parameter(c) : undefined
      if (bias) g.biasBackward(dy, bias.grad)
      return
    }
    case 'rmsnorm': {
      const eps = nd.f?.[0] ?? 0
      accumulate(a, g.rmsnormBackward(dy, a, b, eps))
      const w = g.parameter(b)
      if (w) g.rmsnormBackwardWeight(dy, a, w.grad, eps)
      return
    }
    case 'layernorm': {
      const eps = nd.f?.[0] ?? 0
      accumulate(a, g.layernormBackward(dy, a, b, eps))
      const w = g.parameter(b)
      if (w) g.layernormBackwardWeight(dy, a, w.grad, eps)
      const bias = g.parameter(c)
      if (bias) g.biasBackward(dy, bias.grad)
      return
    }
    case 'gelu':
      accumulate(a, g.geluBackward(dy, a, nd.i?.[0] === 1))
      return
    case 'slice_cols':
      accumulate(a, g.sliceColsBackward(dy, nd.i?.[0] ?? 0, g.cols(a)))
      return
    case 'rope':
      accumulate(a, g.ropeBackward(dy, c, nd.i ?? []))
      return
    case 'causal_attention': {
      const NH = nd.i?.[0] ?? 0
      const grad = g.causalAttentionBackward(dy, a, b, c, NH, nd.f?.[0] ?? 1)
      const qw = g.cols(a)
      const kw = g.cols(b)
      accumulate(a, g.sliceCols(`${name}.q_grad`, grad, 0, qw))
      accumulate(b, g.sliceCols(`${name}.k_grad`, grad, qw, kw))
      accumulate(c, g.sliceCols(`${name}.v_grad`, grad, qw + kw, kw))
      return
    }
    case 'add':
      accumulate(a, dy)
      accumulate(b, dy)
      return
    case 'silu_mul': {
      const grad = g.siluMulBackward(dy, a, b)
      const F = g.cols(a)
      accumulate(a, g.sliceCols(`${name}.gate_grad`, grad, 0, F))
      accumulate(b, g.sliceCols(`${name}.up_grad`, grad, F, F))
      return
    }
    case 'dropout':
      accumulate(a, g.dropout(`${name}.grad`, dy, nd.f?.[0] ?? 0, nd.i?.[0]))
      return
    case 'scale':
      accumulate(a, g.scale(`${name}.grad`, dy, nd.f?.[0] ?? 1))
      return
    case 'embedding': {
      const table = g.parameter(a)
      if (table) g.embeddingBackward(dy, b, table.grad)
      return
    }
    default:
      throw new UsageError(`training has no backward for the "${nd.op}" op of this model family yet`)
  }
}
