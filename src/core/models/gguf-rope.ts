// Rotary settings of a GGUF llama-family model: `<arch>.rope.*` keys, and llama3 scaling, which
// llama.cpp stores as per-frequency divisors in a `rope_freqs.weight` tensor rather than as the
// parameters transformers uses. Those parameters are recovered here, and checked to reproduce the
// tensor's frequencies, so the engine computes inv_freq through ropeInvFreq for every source.

import { shown } from '../util/shown.js'
import { type RopeConfig, ropeInvFreq } from './config.js'
import type { GgufMetadata } from './gguf-metadata.js'

/** How close a divisor must be to 1 or to the scaling factor to count as that value. */
const SAME = 1e-6
/** How close the recovered inv_freq must be to the tensor's (relative): float32 rounding, not a fit. */
const REPRODUCED = 1e-5

/** `<arch>.rope.*` and the `rope_freqs.weight` tensor (for llama) as a RopeConfig. */
export function ggufRope(meta: GgufMetadata, arch: string, headDim: number): RopeConfig {
  const k = (key: string) => `${arch}.rope.${key}`
  const theta = meta.number(k('freq_base'), 10000)
  if (!(theta > 0)) meta.fail(k('freq_base'), `must be positive, got ${theta}`)
  const type = meta.string(k('scaling.type'), 'none')
  let rope: RopeConfig = { theta, type: 'default' }
  if (type === 'linear') {
    const factor = meta.number(k('scaling.factor'))
    if (!(factor > 0)) meta.fail(k('scaling.factor'), `must be positive, got ${factor}`)
    rope = { theta, type: 'linear', factor }
  } else if (type === 'none') {
    // Older files spell linear scaling as a frequency scale.
    const scale = meta.number(k('scale_linear'), 1)
    if (!(scale > 0)) meta.fail(k('scale_linear'), `must be positive, got ${scale}`)
    if (scale !== 1) rope = { theta, type: 'linear', factor: 1 / Math.fround(scale) }
  } else {
    meta.fail(k('scaling.type'), `is ${shown(type)}, which kiln does not support (supported: none, linear)`)
  }

  const tensor = meta.file.tensors.get('rope_freqs.weight')
  if (tensor === undefined) return rope
  const fail = (problem: string): never => meta.fail('rope_freqs.weight', problem)
  if (arch !== 'llama') fail(`is only read for llama models (this one is ${arch})`)
  if (rope.type !== 'default') fail(`cannot be combined with ${k('scaling.type')} ${rope.type}`)
  if (tensor.type !== 'F32' || tensor.shape.length !== 1 || tensor.shape[0] !== headDim / 2) {
    fail(`must be F32 [${headDim / 2}], got ${tensor.type} [${tensor.shape.join(', ')}]`)
  }
  // A copy: the mapped bytes need not be 4-byte aligned.
  const factors = new Float32Array(tensor.data.slice().buffer)
  return llama3FromFactors(factors, theta, headDim, fail)
}

/**
 * The llama3 RopeConfig whose inv_freq equals `default inv_freq / factors` (llama.cpp's reading
 * of the tensor). The divisors are 1 for high frequencies, `factor` for low ones and smoothly in
 * between; with low_freq_factor taken as 1, each in-between divisor gives one linear equation in
 * original_max_position_embeddings and high_freq_factor. With fewer than two of them, the
 * thresholds only bound the parameters, and llama 3's own ratio of 4 and a power-of-two context
 * are chosen within the bounds. Throws (through `fail`) when no llama3 setting reproduces them.
 */
export function llama3FromFactors(
  factors: Float32Array,
  theta: number,
  headDim: number,
  fail: (problem: string) => never,
): RopeConfig {
  const half = headDim / 2
  const base = ropeInvFreq({ theta, type: 'default' }, headDim)
  for (const v of factors)
    if (!(v > 0 && Number.isFinite(v))) fail(`has a divisor ${v}, not a positive number`)
  const factor = Math.max(...factors)
  const isOne = (v: number) => Math.abs(v - 1) <= SAME
  const isFactor = (v: number) => Math.abs(v - factor) <= SAME * factor
  if (factors.every(isOne)) return { theta, type: 'default' }
  if (factors.every(isFactor)) return { theta, type: 'linear', factor }

  // Wavelengths as ropeInvFreq computes them, in float32.
  const f = Math.fround
  const twoPi = f(2 * Math.PI)
  const wavelen = Array.from(base, (inv) => f(f(1 / inv) * twoPi))
  const ones: number[] = []
  const mids: number[] = []
  const lows: number[] = []
  for (let i = 0; i < half; i++) {
    const v = factors[i]
    if (isOne(v)) ones.push(i)
    else if (isFactor(v)) lows.push(i)
    else if (v > 1 && v < factor) mids.push(i)
    else fail(`divisor ${i} is ${v}, outside [1, ${factor}]`)
  }
  // Wavelengths grow with i: divisors of 1, then in-between ones, then the factor.
  const ordered = [...ones, ...mids, ...lows].every((i, k) => i === k)
  if (!ordered) fail('divisors are not 1 for high frequencies, rising to the largest for low ones')

  let oldCtx: number
  let high: number
  const maxOne = ones.length > 0 ? wavelen[ones[ones.length - 1]] : 0
  const minLow = lows.length > 0 ? wavelen[lows[0]] : Number.POSITIVE_INFINITY
  // 1/divisor = (1 − s)/factor + s, and s = (oldCtx/wavelen − low) / (high − low) with low = 1.
  const smooth = (i: number) => (1 / factors[i] - 1 / factor) / (1 - 1 / factor)
  if (mids.length >= 2) {
    // oldCtx/w − s·high = 1 − s, least squares in (oldCtx, high).
    let saa = 0
    let sab = 0
    let sbb = 0
    let sar = 0
    let sbr = 0
    for (const i of mids) {
      const a = 1 / wavelen[i]
      const b = -smooth(i)
      const r = 1 - smooth(i)
      saa += a * a
      sab += a * b
      sbb += b * b
      sar += a * r
      sbr += b * r
    }
    const det = saa * sbb - sab * sab
    oldCtx = Math.round((sar * sbb - sab * sbr) / det)
    high = (saa * sbr - sab * sar) / det
    const snapped = Math.round(high * 256) / 256
    if (Math.abs(high - snapped) <= 1e-4 * high) high = snapped
  } else if (mids.length === 1) {
    high = 4
    oldCtx = Math.round((1 + 3 * smooth(mids[0])) * wavelen[mids[0]])
  } else {
    // Thresholds only: wavelengths below oldCtx/high keep 1, those above oldCtx take the factor.
    high = 4
    oldCtx = pickContext(high * maxOne, minLow)
    if (oldCtx === 0) {
      oldCtx = Math.sqrt(maxOne * minLow)
      high = Math.sqrt(oldCtx / maxOne)
    }
  }
  const rope: RopeConfig = {
    theta,
    type: 'llama3',
    factor,
    lowFreqFactor: 1,
    highFreqFactor: high,
    originalMaxPositions: oldCtx,
  }
  if (!(high > 1) || !(oldCtx > 0)) fail('divisors follow no llama3 rope scaling')
  const got = ropeInvFreq(rope, headDim)
  for (let i = 0; i < half; i++) {
    const want = base[i] / factors[i]
    if (!(Math.abs(got[i] - want) <= REPRODUCED * want)) {
      fail(
        `divisors follow no llama3 rope scaling (frequency ${i}: ${got[i]} from the best fit, ${want} in the file)`,
      )
    }
  }
  return rope
}

/** A power of two strictly between lo and hi (the one nearest their geometric mean), else an integer, else 0. */
function pickContext(lo: number, hi: number): number {
  if (!(hi > lo && lo > 0)) return 0
  const mid = Math.round(Math.log2(Math.sqrt(lo * hi)))
  for (let d = 0; d < 64; d++) {
    for (const p of [2 ** (mid - d), 2 ** (mid + d)]) if (p > lo && p < hi) return p
  }
  const n = Math.round(Math.sqrt(lo * hi))
  return n > lo && n < hi ? n : 0
}
