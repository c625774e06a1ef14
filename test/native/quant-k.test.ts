// ggml K-quants (Q4_K, Q6_K, Q8_K): the native kernels against a plain TS reference written from
// ggml's quantize_row_{q4_K,q6_K,q8_K}_ref and dequantize_row_* (f32 rounding at every step via
// Math.fround, in ggml's operation order; nearest_int by the same 1.5·2^23 trick), byte for byte on
// edge-case blocks and thousands of random rows; dequantization against the TS twins on the
// quantized bytes and on arbitrary blocks; thread-count independence; and the errors for bad input.
// Where python3 and node-llama-cpp's prebuilt libggml-base are at hand, ggml's own compiled
// quantizers judge the kernels too (called through ctypes).
import { describe, expect, it } from 'vitest'
import { native } from '../../src/core/native.js'
import {
  dequantizeRows,
  type KQuantType,
  quantizedBytes,
  quantizeRows,
} from '../../src/core/quant/block-quant.js'
import { findLibggml, ggmlQuantize } from '../helpers/libggml.js'
import { fromF16, mulberry32, randomF32, toF16 } from '../helpers/numbers.js'

const fr = Math.fround
const QK = 256

const nearestScratch = new Float32Array(1)
const nearestBits = new Int32Array(nearestScratch.buffer)
/** ggml's nearest_int: the low mantissa bits of (f32) fval + 1.5·2^23, out-of-range inputs included. */
function nearestInt(fval: number): number {
  nearestScratch[0] = fval + 12582912 // one f32 rounding of an exact-in-double sum
  return (nearestBits[0] & 0x007fffff) - 0x00400000
}

const GROUP_MAX_EPS = fr(1e-15)
const toI8 = (v: number): number => (v << 24) >> 24
const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v))

function putF16(out: Uint8Array, o: number, v: number): void {
  const h = toF16(v)
  out[o] = h & 0xff
  out[o + 1] = h >>> 8
}
const getF16 = (b: Uint8Array, o: number): number => fromF16(b[o] | (b[o + 1] << 8))

// ---- Q8_K: f32 d, 256 int8 q, 16 int16 bsums (292 bytes) ----

function refQ8K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 292)
  const view = new DataView(out.buffer)
  for (let b = 0; b < x.length / QK; b++) {
    const xb = x.subarray(b * QK, (b + 1) * QK)
    const o = b * 292
    let max = 0
    let amax = 0
    for (let j = 0; j < QK; j++) {
      const ax = Math.abs(xb[j])
      if (ax > amax) {
        amax = ax
        max = xb[j]
      }
    }
    if (amax === 0) continue // d = 0, q = 0, bsums = 0
    const iscale = fr(-127 / max)
    const q = new Int8Array(QK)
    for (let j = 0; j < QK; j++) q[j] = Math.min(127, nearestInt(fr(iscale * xb[j])))
    for (let j = 0; j < QK; j++) out[o + 4 + j] = q[j] & 0xff
    for (let j = 0; j < 16; j++) {
      let sum = 0
      for (let l = 0; l < 16; l++) sum += q[j * 16 + l]
      view.setInt16(o + 260 + 2 * j, sum, true)
    }
    view.setFloat32(o, fr(1 / iscale), true)
  }
  return out
}

function refDequantQ8K(bytes: Uint8Array): Float32Array {
  const n = bytes.length / 292
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const y = new Float32Array(n * QK)
  for (let b = 0; b < n; b++) {
    const d = view.getFloat32(b * 292, true)
    for (let j = 0; j < QK; j++) y[b * QK + j] = fr(d * toI8(bytes[b * 292 + 4 + j]))
  }
  return y
}

// ---- Q6_K: ql[128], qh[64], int8 scales[16], f16 d (210 bytes) ----

/** make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL): weights x². */
function makeQxQuants(x: Float32Array, nmax: number, L: Int8Array): number {
  const n = x.length
  let max = 0
  let amax = 0
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i])
    if (ax > amax) {
      amax = ax
      max = x[i]
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0)
    return 0
  }
  const level = (iscale: number, i: number) => clamp(nearestInt(fr(iscale * x[i])), -nmax, nmax - 1)
  let iscale = fr(-nmax / max)
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < n; i++) {
    const l = level(iscale, i)
    L[i] = l + nmax
    const w = fr(x[i] * x[i])
    sumlx = fr(sumlx + fr(fr(w * x[i]) * l))
    suml2 = fr(suml2 + fr(fr(w * l) * l))
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0
  let best = fr(scale * sumlx)
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max)
    sumlx = 0
    suml2 = 0
    for (let i = 0; i < n; i++) {
      const l = level(iscale, i)
      const w = fr(x[i] * x[i])
      sumlx = fr(sumlx + fr(fr(w * x[i]) * l))
      suml2 = fr(suml2 + fr(fr(w * l) * l))
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[i] = level(iscale, i) + nmax
      scale = fr(sumlx / suml2)
      best = fr(scale * sumlx)
    }
  }
  return scale
}

function refQ6K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 210)
  for (let b = 0; b < x.length / QK; b++) {
    const xb = x.subarray(b * QK, (b + 1) * QK)
    const o = b * 210
    const L = new Int8Array(QK)
    const scales = new Float32Array(16)
    let maxScale = 0
    let maxAbsScale = 0
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(xb.subarray(16 * ib, 16 * ib + 16), 32, L.subarray(16 * ib, 16 * ib + 16))
      scales[ib] = scale
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale)
        maxScale = scale
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue // the whole block stays zero
    const iscale = fr(-128 / maxScale)
    putF16(out, o + 208, fr(1 / iscale))
    const sc = new Int8Array(16)
    for (let ib = 0; ib < 16; ib++) sc[ib] = toI8(Math.min(127, nearestInt(fr(iscale * scales[ib]))))
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = sc[ib] & 0xff
    const dSuper = getF16(out, o + 208)
    for (let j = 0; j < 16; j++) {
      const d = fr(dSuper * sc[j])
      if (d === 0) continue
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = clamp(nearestInt(fr(xb[16 * j + ii] / d)), -32, 31) + 32
      }
    }
    for (let half = 0; half < 2; half++) {
      const j = half * 128
      const ql = o + half * 64
      const qh = o + 128 + half * 32
      for (let l = 0; l < 32; l++) {
        out[ql + l] = (L[j + l] & 0xf) | ((L[j + l + 64] & 0xf) << 4)
        out[ql + l + 32] = (L[j + l + 32] & 0xf) | ((L[j + l + 96] & 0xf) << 4)
        out[qh + l] =
          (L[j + l] >> 4) |
          ((L[j + l + 32] >> 4) << 2) |
          ((L[j + l + 64] >> 4) << 4) |
          ((L[j + l + 96] >> 4) << 6)
      }
    }
  }
  return out
}

function refDequantQ6K(bytes: Uint8Array): Float32Array {
  const n = bytes.length / 210
  const y = new Float32Array(n * QK)
  for (let b = 0; b < n; b++) {
    const o = b * 210
    const d = getF16(bytes, o + 208)
    for (let half = 0; half < 2; half++) {
      const ql = o + half * 64
      const qh = o + 128 + half * 32
      const sc = o + 192 + half * 8
      const yo = b * QK + half * 128
      for (let l = 0; l < 32; l++) {
        const is = Math.floor(l / 16)
        const h = bytes[qh + l]
        const q1 = ((bytes[ql + l] & 0xf) | ((h & 3) << 4)) - 32
        const q2 = ((bytes[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32
        const q3 = ((bytes[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32
        const q4 = ((bytes[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32
        y[yo + l] = fr(fr(d * toI8(bytes[sc + is])) * q1)
        y[yo + l + 32] = fr(fr(d * toI8(bytes[sc + is + 2])) * q2)
        y[yo + l + 64] = fr(fr(d * toI8(bytes[sc + is + 4])) * q3)
        y[yo + l + 96] = fr(fr(d * toI8(bytes[sc + is + 6])) * q4)
      }
    }
  }
  return y
}

// ---- Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, qs[128] (144 bytes) ----

/** make_qkx2_quants(n, nmax, x, weights, L, &min, Laux, rmin, rdelta, nstep, use_mad = false). */
function makeQkx2Quants(
  x: Float32Array,
  weights: Float32Array,
  nmax: number,
  L: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
): { scale: number; min: number } {
  const n = x.length
  let min = x[0]
  let max = x[0]
  let sumW = weights[0]
  let sumX = fr(sumW * x[0])
  for (let i = 1; i < n; i++) {
    if (x[i] < min) min = x[i]
    if (x[i] > max) max = x[i]
    sumW = fr(sumW + weights[i])
    sumX = fr(sumX + fr(weights[i] * x[i]))
  }
  if (min > 0) min = 0
  if (max === min) {
    L.fill(0)
    return { scale: 0, min: -min }
  }
  const errorOf = (scale: number, m: number, levels: Uint8Array) => {
    let e = 0
    for (let i = 0; i < n; i++) {
      let diff = fr(fr(fr(scale * levels[i]) + m) - x[i])
      diff = fr(diff * diff)
      e = fr(e + fr(weights[i] * diff))
    }
    return e
  }
  let iscale = fr(nmax / fr(max - min))
  let scale = fr(1 / iscale)
  for (let i = 0; i < n; i++) L[i] = clamp(nearestInt(fr(iscale * fr(x[i] - min))), 0, nmax)
  let bestError = errorOf(scale, min, L)
  const Laux = new Uint8Array(n)
  for (let is = 0; is <= nstep; is++) {
    // min is the best trial's so far (ggml updates it in place): later trials start from it.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min))
    let sumL = 0
    let sumL2 = 0
    let sumXL = 0
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * fr(x[i] - min))), 0, nmax)
      Laux[i] = l
      const w = weights[i]
      sumL = fr(sumL + fr(w * l))
      sumL2 = fr(sumL2 + fr(fr(w * l) * l))
      sumXL = fr(sumXL + fr(fr(w * l) * x[i]))
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL))
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D)
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D)
      if (thisMin > 0) {
        thisMin = 0
        thisScale = fr(sumXL / sumL2)
      }
      const curError = errorOf(thisScale, thisMin, Laux)
      if (curError < bestError) {
        L.set(Laux)
        bestError = curError
        scale = thisScale
        min = thisMin
      }
    }
  }
  return { scale, min: -min }
}

/** get_scale_min_k4 */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63]
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)]
}

function refQ4K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 144)
  for (let b = 0; b < x.length / QK; b++) {
    const xb = x.subarray(b * QK, (b + 1) * QK)
    const o = b * 144
    const L = new Uint8Array(QK)
    const scales = new Float32Array(8)
    const mins = new Float32Array(8)
    let maxScale = 0
    let maxMin = 0
    for (let j = 0; j < 8; j++) {
      const xs = xb.subarray(32 * j, 32 * j + 32)
      let sumX2 = 0
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(xs[l] * xs[l]))
      const avX = fr(Math.sqrt(fr(sumX2 / 32)))
      const weights = new Float32Array(32)
      for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(xs[l]))
      const r = makeQkx2Quants(xs, weights, 15, L.subarray(32 * j, 32 * j + 32), -1, fr(0.1), 20)
      scales[j] = r.scale
      mins[j] = r.min
      if (scales[j] > maxScale) maxScale = scales[j]
      if (mins[j] > maxMin) maxMin = mins[j]
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0
    const sc = o + 4
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff)
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff)
      if (j < 4) {
        out[sc + j] = ls
        out[sc + j + 4] = lm
      } else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4)
        out[sc + j - 4] |= (ls >> 4) << 6
        out[sc + j] |= (lm >> 4) << 6
      }
    }
    putF16(out, o, fr(maxScale / 63))
    putF16(out, o + 2, fr(maxMin / 63))
    const dSuper = getF16(out, o)
    const mSuper = getF16(out, o + 2)
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(j, out, sc)
      const d = fr(dSuper * s)
      if (d === 0) continue
      const dm = fr(mSuper * m)
      for (let ii = 0; ii < 32; ii++) {
        L[32 * j + ii] = clamp(nearestInt(fr(fr(xb[32 * j + ii] + dm) / d)), 0, 15)
      }
    }
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) out[o + 16 + 32 * j + l] = L[64 * j + l] | (L[64 * j + l + 32] << 4)
    }
  }
  return out
}

function refDequantQ4K(bytes: Uint8Array): Float32Array {
  const n = bytes.length / 144
  const y = new Float32Array(n * QK)
  for (let b = 0; b < n; b++) {
    const o = b * 144
    const d = getF16(bytes, o)
    const min = getF16(bytes, o + 2)
    for (let j = 0; j < 4; j++) {
      const [s1, m1] = scaleMinK4(2 * j, bytes, o + 4)
      const [s2, m2] = scaleMinK4(2 * j + 1, bytes, o + 4)
      const d1 = fr(d * s1)
      const mm1 = fr(min * m1)
      const d2 = fr(d * s2)
      const mm2 = fr(min * m2)
      for (let l = 0; l < 32; l++) {
        const q = bytes[o + 16 + 32 * j + l]
        y[b * QK + 64 * j + l] = fr(fr(d1 * (q & 0xf)) - mm1)
        y[b * QK + 64 * j + 32 + l] = fr(fr(d2 * (q >> 4)) - mm2)
      }
    }
  }
  return y
}

/** The K-quants with a TypeScript twin here (Q5_K is judged by ggml itself: quant-5bit.test.ts). */
const TYPES = ['q8_k', 'q6_k', 'q4_k'] as const satisfies readonly KQuantType[]
type TwinType = (typeof TYPES)[number]
const REF: Record<TwinType, (x: Float32Array) => Uint8Array> = { q4_k: refQ4K, q6_k: refQ6K, q8_k: refQ8K }
const REF_DEQUANT: Record<TwinType, (b: Uint8Array) => Float32Array> = {
  q4_k: refDequantQ4K,
  q6_k: refDequantQ6K,
  q8_k: refDequantQ8K,
}
const BLOCK_BYTES: Record<TwinType, number> = { q4_k: 144, q6_k: 210, q8_k: 292 }

/** Edge-case super-blocks of 256, one row each. */
function edgeBlocks(): { name: string; x: number[] }[] {
  const rand = mulberry32(5)
  const gauss = () => {
    const u = Math.max(rand(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
  }
  const gaussian = (scale = 1) => Array.from({ length: QK }, () => fr(gauss() * scale))
  const blocks: { name: string; x: number[] }[] = [
    { name: 'zeros', x: new Array(QK).fill(0) },
    { name: 'negative zeros', x: new Array(QK).fill(-0) },
    { name: 'all equal, positive', x: new Array(QK).fill(0.37) },
    { name: 'all equal, negative', x: new Array(QK).fill(-2.5) },
    { name: 'one non-zero', x: [1, ...new Array(QK - 1).fill(0)] },
    { name: 'one negative non-zero at the end', x: [...new Array(QK - 1).fill(0), -3] },
  ]
  const outlier = gaussian()
  outlier[77] = 1000
  blocks.push({ name: 'one outlier', x: outlier })
  const negMax = gaussian()
  negMax[200] = -40
  blocks.push({ name: 'negative max', x: negMax })
  blocks.push({ name: 'all positive', x: gaussian().map(Math.abs) })
  blocks.push({ name: 'all negative', x: gaussian().map((v) => -Math.abs(v)) })
  // Integers and halves: nearest_int's ties (round half to even) and exact scales.
  blocks.push({ name: 'integers', x: Array.from({ length: QK }, (_, i) => (i % 64) - 32) })
  blocks.push({ name: 'halves', x: Array.from({ length: QK }, (_, i) => ((i * 7) % 31) - 15.5) })
  blocks.push({ name: 'levels 0..15', x: Array.from({ length: QK }, (_, i) => i % 16) })
  // Sub-blocks of zeros between live ones, and sub-blocks far smaller than their neighbours
  // (their scale quantizes to 0, so they keep the first-pass levels).
  blocks.push({
    name: 'zero sub-blocks',
    x: gaussian().map((v, i) => (Math.floor(i / 16) % 2 === 0 ? 0 : v)),
  })
  blocks.push({ name: 'tiny sub-blocks', x: gaussian().map((v, i) => (i < 224 ? fr(v * 1e-6) : v)) })
  blocks.push({
    name: 'tiny sub-block first',
    x: gaussian().map((v, i) => (i < 32 ? fr(v * 1e-4) : fr(v * 50))),
  })
  for (const scale of [1e-30, 1e-38, 1e-20, 1e-8, 1e-3, 1e3, 1e8, 1e20, 1e30, 3e38]) {
    blocks.push({ name: `gaussian × ${scale}`, x: gaussian(scale) })
  }
  blocks.push({ name: 'f32 subnormals', x: Array.from({ length: QK }, () => fr((rand() - 0.5) * 1e-40)) })
  blocks.push({
    name: 'mixed magnitudes',
    x: Array.from({ length: QK }, () => fr(gauss() * 10 ** (rand() * 12 - 6))),
  })
  blocks.push({ name: 'sparse', x: gaussian().map((v) => (rand() < 0.9 ? 0 : v)) })
  blocks.push({
    name: 'alternating signs',
    x: Array.from({ length: QK }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 256)),
  })
  return blocks
}

function expectSameBytes(got: Uint8Array, want: Uint8Array, blockBytes: number, label: string): void {
  expect(got.length, label).toBe(want.length)
  const first = got.findIndex((b, i) => b !== want[i])
  expect(first, `${label}: first differing byte ${first} (block ${Math.floor(first / blockBytes)})`).toBe(-1)
}

const asBytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength)

describe('K-quants match the ggml reference byte for byte', () => {
  const edges = edgeBlocks()
  const edgeX = Float32Array.from(edges.flatMap((e) => e.x))

  for (const type of TYPES) {
    it(`${type}: ${edges.length} edge-case super-blocks`, () => {
      const got = quantizeRows(type, edgeX, edges.length, QK, 1)
      expect(got.length).toBe(quantizedBytes(type, edges.length, QK))
      const want = REF[type](edgeX)
      const bb = BLOCK_BYTES[type]
      for (let b = 0; b < edges.length; b++) {
        expectSameBytes(
          got.subarray(b * bb, (b + 1) * bb),
          want.subarray(b * bb, (b + 1) * bb),
          bb,
          edges[b].name,
        )
      }
    })

    it(`${type}: 3000 random super-blocks at random scales, in rows of 256 to 1024`, () => {
      const rand = mulberry32(type === 'q4_k' ? 41 : type === 'q6_k' ? 42 : 43)
      for (const cols of [256, 512, 1024]) {
        const rows = 3000 / (cols / 256) / 3
        const x = new Float32Array(rows * cols)
        for (let r = 0; r < rows; r++) {
          const scale = 10 ** (rand() * 8 - 4)
          const shift = rand() < 0.3 ? (rand() - 0.5) * scale : 0 // some rows off-centre (Q4_K's min)
          for (let i = 0; i < cols; i++) x[r * cols + i] = fr((rand() * 2 - 1) * scale + shift)
        }
        expectSameBytes(
          quantizeRows(type, x, rows, cols, 2),
          REF[type](x),
          BLOCK_BYTES[type],
          `${type} ${cols}`,
        )
      }
    })

    it(`${type}: dequantize equals the TS twin, on quantized rows and on arbitrary blocks`, () => {
      const q = quantizeRows(type, edgeX, edges.length, QK, 1)
      expect(
        Buffer.compare(asBytes(dequantizeRows(type, q, edges.length, QK)), asBytes(REF_DEQUANT[type](q))),
      ).toBe(0)
      // Random bytes exercise every scale/min/level bit; the f16/f32 scales are set to finite
      // values so both sides compute with numbers (NaN payloads are not compared).
      const rand = mulberry32(9)
      const blocks = 64
      const bb = BLOCK_BYTES[type]
      const bytes = new Uint8Array(blocks * bb)
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256)
      const view = new DataView(bytes.buffer)
      for (let b = 0; b < blocks; b++) {
        const o = b * bb
        if (type === 'q8_k') view.setFloat32(o, fr((rand() - 0.5) * 10 ** (rand() * 10 - 5)), true)
        if (type === 'q6_k') view.setUint16(o + 208, toF16((rand() - 0.5) * 10 ** (rand() * 6 - 3)), true)
        if (type === 'q4_k') {
          view.setUint16(o, toF16((rand() - 0.5) * 10 ** (rand() * 6 - 3)), true)
          view.setUint16(o + 2, toF16((rand() - 0.5) * 10 ** (rand() * 6 - 3)), true)
        }
      }
      const y = dequantizeRows(type, bytes, blocks, QK, 3)
      expect(Buffer.compare(asBytes(y), asBytes(REF_DEQUANT[type](bytes)))).toBe(0)
    })

    it(`${type}: threads 1, 2 and 3 give identical bytes`, () => {
      const rand = mulberry32(3)
      const rows = 37
      const cols = 512
      const x = randomF32(rows * cols, rand, 3)
      const one = quantizeRows(type, x, rows, cols, 1)
      for (const th of [2, 3]) expect(Buffer.compare(quantizeRows(type, x, rows, cols, th), one)).toBe(0)
      const y = dequantizeRows(type, one, rows, cols, 1)
      for (const th of [2, 3])
        expect(Buffer.compare(asBytes(dequantizeRows(type, one, rows, cols, th)), asBytes(y))).toBe(0)
    })
  }
})

describe('K-quant round trips', () => {
  /** RMS of x − dequantize(quantize(x)) over RMS of x, for Gaussian rows. */
  function relativeRmse(type: KQuantType): number {
    const rand = mulberry32(17)
    const rows = 64
    const cols = 1024
    const x = new Float32Array(rows * cols)
    for (let i = 0; i < x.length; i++) {
      const u = Math.max(rand(), 1e-12)
      x[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
    }
    const y = dequantizeRows(type, quantizeRows(type, x, rows, cols), rows, cols)
    let err = 0
    let sig = 0
    for (let i = 0; i < x.length; i++) {
      err += (x[i] - y[i]) ** 2
      sig += x[i] ** 2
    }
    return Math.sqrt(err / sig)
  }

  it('more bits, less error: q8_k < q6_k < q4_k, each within its format’s reach', () => {
    const e = { q4_k: relativeRmse('q4_k'), q6_k: relativeRmse('q6_k'), q8_k: relativeRmse('q8_k') }
    // Measured on these rows: q4_k 0.071, q6_k 0.018, q8_k 0.0070; bounds leave ~1.5× margin.
    expect(e.q8_k).toBeLessThan(0.011)
    expect(e.q6_k).toBeLessThan(0.027)
    expect(e.q4_k).toBeLessThan(0.11)
    expect(e.q8_k).toBeLessThan(e.q6_k)
    expect(e.q6_k).toBeLessThan(e.q4_k)
  })

  it('q8_k bsums are the sums of each 16 quants', () => {
    const rand = mulberry32(23)
    const x = randomF32(4 * QK, rand, 5)
    const q = quantizeRows('q8_k', x, 4, QK)
    const view = new DataView(q.buffer, q.byteOffset, q.byteLength)
    for (let b = 0; b < 4; b++) {
      for (let j = 0; j < 16; j++) {
        let sum = 0
        for (let l = 0; l < 16; l++) sum += toI8(q[b * 292 + 4 + 16 * j + l])
        expect(view.getInt16(b * 292 + 260 + 2 * j, true)).toBe(sum)
      }
    }
  })
})

const libggml = findLibggml()
if (!libggml)
  console.warn("python3 or node-llama-cpp's libggml-base is missing: skipping the check against ggml itself")

describe.skipIf(!libggml)(
  'K-quants match ggml itself (node-llama-cpp’s libggml-base, through ctypes)',
  () => {
    it('quantize_row_*_ref and dequantize_row_* on edge blocks and 4000 random super-blocks', () => {
      const rand = mulberry32(77)
      const random = new Float32Array(4000 * QK)
      for (let b = 0; b < 4000; b++) {
        const scale = 10 ** (rand() * 10 - 5)
        const shift = rand() < 0.3 ? (rand() - 0.5) * scale : 0
        for (let i = 0; i < QK; i++) random[b * QK + i] = fr((rand() * 2 - 1) * scale + shift)
      }
      const x = Float32Array.from([...edgeBlocks().flatMap((e) => e.x), ...random])
      const theirs = ggmlQuantize(libggml!, x, [
        { name: 'q4_K', block: QK, bytes: 144 },
        { name: 'q6_K', block: QK, bytes: 210 },
        { name: 'q8_K', block: QK, bytes: 292 },
      ])
      const rows = x.length / QK
      for (const type of TYPES) {
        const t = theirs.get(type)!
        expectSameBytes(quantizeRows(type, x, rows, QK, 2), t.bytes, BLOCK_BYTES[type], `${type} vs ggml`)
        expect(Buffer.compare(asBytes(dequantizeRows(type, t.bytes, rows, QK)), asBytes(t.values))).toBe(0)
      }
    })
  },
)

describe('bad input is a JS error, not a crash', () => {
  const n = native()
  it('rows that are not whole super-blocks', () => {
    expect(() => n.quantize('q4_k', new Float32Array(128), 1, 128, 1)).toThrow(
      /q4_k needs cols to be a multiple of 256, got 128/,
    )
    expect(() => n.quantize('q6_k', new Float32Array(288), 1, 288, 1)).toThrow(/multiple of 256/)
    expect(() => n.dequantize('q8_k', new Uint8Array(292), 1, 32)).toThrow(/multiple of 256/)
  })
  it('byte counts that do not match', () => {
    expect(() => n.dequantize('q4_k', new Uint8Array(143), 1, 256)).toThrow(/needs 144 bytes, got 143/)
    expect(() => n.dequantize('q6_k', new Uint8Array(210), 2, 256)).toThrow(/needs 420 bytes, got 210/)
  })
  it('an unknown type names the known ones', () => {
    expect(() => n.quantize('q3_k' as KQuantType, new Float32Array(256), 1, 256, 1)).toThrow(
      /unknown quantization type "q3_k" \(q4_0, q8_0, q4_k, q6_k, q8_k, q5_0, q5_1, q5_k\)/,
    )
  })
})
