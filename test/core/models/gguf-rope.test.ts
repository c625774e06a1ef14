// llama3 rope scaling, stored by GGUF as per-frequency divisors (rope_freqs.weight), recovered as a
// RopeConfig whose inv_freq equals the one transformers computes from config.json.
import { describe, expect, it } from 'vitest'
import { llama3RopeFactors } from '../../../src/core/export/to-gguf.js'
import { type ModelConfig, type RopeConfig, ropeInvFreq } from '../../../src/core/models/config.js'
import { llama3FromFactors } from '../../../src/core/models/gguf-rope.js'

/** The divisors kiln's GGUF writer stores for a rope setting. */
function factorsOf(rope: RopeConfig, headDim: number): Float32Array {
  return llama3RopeFactors({ rope, headDim } as ModelConfig)
}

function fail(problem: string): never {
  throw new Error(problem)
}

/** max relative difference of two inv_freq tables */
function maxRel(a: Float32Array, b: Float32Array): number {
  let m = 0
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.abs(b[i]))
  return m
}

const llama3 = (theta: number, factor: number, low: number, high: number, oldCtx: number): RopeConfig => ({
  theta,
  type: 'llama3',
  factor,
  lowFreqFactor: low,
  highFreqFactor: high,
  originalMaxPositions: oldCtx,
})

describe('llama3FromFactors', () => {
  it('recovers Llama 3.1 and 3.2 settings exactly', () => {
    for (const rope of [llama3(500000, 8, 1, 4, 8192), llama3(500000, 32, 1, 4, 8192)]) {
      for (const headDim of [64, 128]) {
        const got = llama3FromFactors(factorsOf(rope, headDim), rope.theta, headDim, fail)
        expect(got).toEqual(rope)
      }
    }
  })

  it('reproduces inv_freq to 1e-7 where only the thresholds are known (no in-between divisors)', () => {
    // llama3-tiny: head size 8, every frequency is either kept or divided by the factor.
    const rope = llama3(500000, 8, 1, 4, 64)
    const got = llama3FromFactors(factorsOf(rope, 8), rope.theta, 8, fail)
    expect(got).toEqual(rope)
    expect(maxRel(ropeInvFreq(got, 8), ropeInvFreq(rope, 8))).toBeLessThanOrEqual(1e-7)
  })

  it('finds an equivalent setting when low_freq_factor is not 1', () => {
    // Only oldCtx/low and oldCtx/high matter: (4096, 2, 6) is (2048, 1, 3).
    const rope = llama3(10000, 4, 2, 6, 4096)
    const got = llama3FromFactors(factorsOf(rope, 128), rope.theta, 128, fail)
    expect(got).toMatchObject({ type: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 3 })
    expect(got.originalMaxPositions).toBe(2048)
    expect(maxRel(ropeInvFreq(got, 128), ropeInvFreq(rope, 128))).toBeLessThanOrEqual(2e-7)
  })

  it('reads equal divisors as linear scaling and ones as no scaling', () => {
    expect(llama3FromFactors(new Float32Array(32).fill(2), 10000, 64, fail)).toEqual({
      theta: 10000,
      type: 'linear',
      factor: 2,
    })
    expect(llama3FromFactors(new Float32Array(32).fill(1), 10000, 64, fail)).toEqual({
      theta: 10000,
      type: 'default',
    })
  })

  it('refuses divisors that no llama3 setting gives', () => {
    const falling = factorsOf(llama3(500000, 8, 1, 4, 8192), 128).reverse()
    expect(() => llama3FromFactors(falling, 500000, 128, fail)).toThrow(/not 1 for high frequencies/)
    const bumpy = factorsOf(llama3(500000, 8, 1, 4, 8192), 128)
    const mid = bumpy.findIndex((v) => v > 1 && v < 8)
    bumpy[mid + 1] = bumpy[mid]
    expect(() => llama3FromFactors(bumpy, 500000, 128, fail)).toThrow(/follow no llama3 rope scaling/)
    expect(() => llama3FromFactors(new Float32Array(4).fill(0), 10000, 8, fail)).toThrow(/not a positive/)
  })
})
