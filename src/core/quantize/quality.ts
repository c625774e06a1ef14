// How much quantization changed a model, measured the way llama.cpp's tools do: perplexity of the
// original and of the quantized model on the same text, and the mean KL divergence of their
// next-token distributions, KL(P_base ‖ P_quant), over every scored position.
import { InputError } from '../errors.js'
import type { Model } from '../runtime/model.js'

export interface QualityReport {
  ppl_base: number
  ppl_quant: number
  kl_mean: number
  /** Positions scored (tokens whose next token was predicted). */
  tokens: number
}

/** Most positions per forward window: the logits of a window (W × V floats) are held at once. */
const MAX_WINDOW = 256

/** log-softmax of one row, in double. */
function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity
  for (const v of row) if (v > max) max = v
  let sum = 0
  for (const v of row) sum += Math.exp(v - max)
  const lse = max + Math.log(sum)
  const out = new Float64Array(row.length)
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse
  return out
}

/**
 * Scores `ids` with both models in non-overlapping windows (each starts a fresh sequence; its
 * first token is context only), so memory stays at two windows of logits whatever the text length.
 */
export async function measureQuality(base: Model, quant: Model, ids: number[]): Promise<QualityReport> {
  const V = base.config.vocabSize
  if (quant.config.vocabSize !== V)
    throw new InputError(`vocabularies differ (${V} vs ${quant.config.vocabSize}); cannot compare the models`)
  const W = Math.min(MAX_WINDOW, base.config.maxPositions, quant.config.maxPositions)
  if (ids.length < 2) throw new InputError('the evaluation text is too short: it needs at least 2 tokens')
  let nllBase = 0
  let nllQuant = 0
  let kl = 0
  let n = 0
  for (let s = 0; s + 1 < ids.length; s += W) {
    const window = ids.slice(s, s + W)
    if (window.length < 2) break
    const lb = await base.logits(window)
    const lq = await quant.logits(window)
    for (let t = 0; t + 1 < window.length; t++) {
      const pb = logSoftmax(lb.subarray(t * V, (t + 1) * V))
      const pq = logSoftmax(lq.subarray(t * V, (t + 1) * V))
      const next = window[t + 1]
      nllBase -= pb[next]
      nllQuant -= pq[next]
      let k = 0
      for (let v = 0; v < V; v++) {
        const p = Math.exp(pb[v])
        if (p > 0) k += p * (pb[v] - pq[v])
      }
      kl += Math.max(0, k)
      n++
    }
  }
  return { ppl_base: Math.exp(nllBase / n), ppl_quant: Math.exp(nllQuant / n), kl_mean: kl / n, tokens: n }
}
