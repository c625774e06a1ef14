// The pieces every encoder family is made of, by checkpoint name: a linear layer (`<name>.weight`
// (out, in) and `<name>.bias`), a LayerNorm (`.weight`/`.bias`, or the `.gamma`/`.beta` of old
// TensorFlow-converted checkpoints, which transformers renames on load), the activation, the
// post-norm encoder layer stack and the embeddings.
import { FormatError } from '../../errors.js'
import type { GraphBuilder, TensorId } from '../../runtime/graph-builder.js'
import type { EncoderConfig } from '../config.js'
import type { WeightSet } from '../weights.js'

/** The checkpoint names of one encoder layer's linear layers and norms (prefixes, no `.weight`). */
export interface EncoderLayerNames {
  query: string
  key: string
  value: string
  attnOut: string
  attnNorm: string
  up: string
  down: string
  outNorm: string
}

export interface EncoderNames {
  word: string
  position: string
  /** Absent in families without token types. */
  tokenType?: string
  embedNorm: string
  layer(l: number): EncoderLayerNames
}

// (N, outF) = x (N, inF) · Wᵀ + b
export function linear(
  g: GraphBuilder,
  w: WeightSet,
  name: string,
  x: TensorId,
  inF: number,
  outF: number,
): TensorId {
  return g.matmul(name, x, w.matrix(`${name}.weight`, [outF, inF]), w.vector(`${name}.bias`, outF))
}

// (N, C), normalised over C
export function layerNorm(g: GraphBuilder, w: WeightSet, name: string, x: TensorId, C: number, eps: number) {
  const old = !w.has(`${name}.weight`) && w.has(`${name}.gamma`)
  const scale = w.vector(`${name}.${old ? 'gamma' : 'weight'}`, C)
  const shift = w.vector(`${name}.${old ? 'beta' : 'bias'}`, C)
  return g.layernorm(name, x, scale, shift, eps)
}

export function activate(g: GraphBuilder, name: string, x: TensorId, act: EncoderConfig['activation']) {
  return act === 'relu' ? g.relu(name, x) : g.gelu(name, x, act === 'gelu_tanh')
}

/** The first prefix under which the checkpoint has the word embeddings ('bert.', '' …). */
export function basePrefix(w: WeightSet, candidates: string[], word: (prefix: string) => string): string {
  for (const p of candidates) if (w.has(word(p))) return p
  throw new FormatError(
    `checkpoint has no word embeddings (looked for ${candidates.map((p) => `"${word(p)}"`).join(', ')})`,
  )
}

/**
 * Embeddings, then L post-norm layers (attention → dense → residual → LayerNorm → dense → act →
 * dense → residual → LayerNorm). Returns the last hidden state (N, C) and the word embedding.
 */
export function encoderBody(
  cfg: EncoderConfig,
  g: GraphBuilder,
  w: WeightSet,
  names: EncoderNames,
): { hidden: TensorId; wordEmbedding: TensorId } {
  const { hiddenSize: C, numHeads: NH, headDim: HS, intermediateSize: F, vocabSize: V } = cfg
  const eps = cfg.layerNormEps
  const word = w.matrix(names.word, [V, C])
  // RoBERTa's table starts positionOffset rows early: position p reads row p + offset.
  const positions = w.rows(names.position, [cfg.maxPositions + cfg.positionOffset, C], cfg.positionOffset)
  // embeddings = word + token type, then + position (BertEmbeddings' order of additions)
  let x = g.embedding('embed.word', word, g.tokens) // (N, C)
  if (names.tokenType !== undefined) {
    const types = w.matrix(names.tokenType, [cfg.typeVocabSize, C])
    x = g.add2('embed.word_type', x, g.embedding('embed.type', types, g.types))
  }
  x = g.add2('embed.sum', x, g.embedding('embed.position', positions, g.positions))
  x = layerNorm(g, w, names.embedNorm, x, C, eps)

  const scale = 1 / Math.sqrt(HS)
  for (let l = 0; l < cfg.numLayers; l++) {
    const n = names.layer(l)
    const q = linear(g, w, n.query, x, C, C) // (N, C)
    const k = linear(g, w, n.key, x, C, C)
    const v = linear(g, w, n.value, x, C, C)
    const att = g.bidirAttention(`${n.query}.attn`, q, k, v, NH, scale) // (N, C)
    const o = linear(g, w, n.attnOut, att, C, C)
    const h = layerNorm(g, w, n.attnNorm, g.add2(`${n.attnOut}.resid`, o, x), C, eps)
    const up = activate(g, `${n.up}.act`, linear(g, w, n.up, h, C, F), cfg.activation) // (N, F)
    const down = linear(g, w, n.down, up, F, C)
    x = layerNorm(g, w, n.outNorm, g.add2(`${n.down}.resid`, down, h), C, eps)
  }
  return { hidden: x, wordEmbedding: word }
}
