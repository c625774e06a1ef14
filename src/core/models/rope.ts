// Rotary inverse frequencies, computed as transformers' rope init functions do in float32.
import { ConfigError } from '../errors.js'
import type { RopeConfig } from './config.js'

/**
 * The HS/2 rotary inverse frequencies, computed as transformers' rope init functions do in float32
 * (each tensor op rounded to float32, Python scalars cast to float32), so the angles match its own.
 */
export function ropeInvFreq(rope: RopeConfig, headDim: number): Float32Array {
  // Bounded as config widths are (config-fields.ts MAX_WIDTH): a GGUF's head size reaches here too.
  if (!Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0 || headDim > 2 ** 20) {
    throw new ConfigError(`rotary head size must be a positive even integer up to ${2 ** 20}, got ${headDim}`)
  }
  const f = Math.fround
  const half = headDim / 2
  const inv = new Float32Array(half)
  // 1.0 / (base ** (arange(0, dim, 2).float() / dim)); `1.0 / t` is reciprocal(t) * 1.0.
  const base = f(rope.theta)
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(base ** f((2 * i) / headDim)))
  if (rope.type === 'default') return inv

  const factor = f(required(rope.factor, 'factor'))
  if (rope.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i] / factor)
    return inv
  }

  // _compute_llama3_parameters
  const low = required(rope.lowFreqFactor, 'lowFreqFactor')
  const high = required(rope.highFreqFactor, 'highFreqFactor')
  const oldCtx = required(rope.originalMaxPositions, 'originalMaxPositions')
  const lowFreqWavelen = f(oldCtx / low)
  const highFreqWavelen = f(oldCtx / high)
  const twoPi = f(2 * Math.PI)
  const out = new Float32Array(half)
  for (let i = 0; i < half; i++) {
    const wavelen = f(f(1 / inv[i]) * twoPi)
    const llama = wavelen > lowFreqWavelen ? f(inv[i] / factor) : inv[i]
    const smooth = f(f(f(f(1 / wavelen) * f(oldCtx)) - f(low)) / f(high - low))
    const smoothed = f(f(f(f(1 - smooth) * llama) / factor) + f(smooth * llama))
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)
    out[i] = medium ? smoothed : llama
  }
  return out
}

function required(v: number | undefined, name: string): number {
  if (v === undefined) throw new ConfigError(`rope config is missing ${name}`)
  return v
}
