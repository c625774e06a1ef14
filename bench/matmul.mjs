// Matmul micro-benchmark on the 110M-parameter llama shapes: decode (N=1, GB/s of weights read,
// against this machine's measured read bandwidth) and prefill (N=64, GFLOPS, against the FMA peak).
// Decode cycles through enough copies of each weight to exceed the last-level cache, as a real
// model's layers do, so small matrices are timed from DRAM too. Times are the kernel's own, from
// the op profile (KILN_PROFILE=1, set here unless given: thread 0's time in the node, its barrier
// included), not runOp's wall time: runOp builds a graph a call, and on virtual machines where a
// first touch of a page is costly its fresh buffers moved the wall time by up to 3× from one run
// to the next (KILN_PROFILE=0: wall time, with that cost). Run `node --expose-gc bench/matmul.mjs`
// (needs `npm run build:native`); flags: --threads N, --reps N, --dtype f32,bf16,f16 (or block types:
// q4_0, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k), --n 1,64, --gemm (encoder graphs' summation order),
// --ghz F (clock for the FMA peak), --shapes KxM,KxM (default the llama ones), --json.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

/** (K, M) of every matmul in a llama layer plus the head: qkvo, k/v (GQA), gate/up, down, lm_head. */
export const SHAPES = [
  [768, 768],
  [768, 256],
  [768, 2048],
  [2048, 768],
  [768, 32000],
]

const COLD_BYTES = 96 * 1024 * 1024 // total bytes of weight copies cycled in decode (> L3)

function loadAddon() {
  process.env.KILN_PROFILE ??= '1' // read once, when the addon first asks
  return require(path.join(here, '..', 'build', 'Release', 'kiln_native.node'))
}

function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// The block types the addon quantizes (native().quantize)
const QUANT_TYPES = ['q4_0', 'q5_0', 'q5_1', 'q8_0', 'q4_k', 'q5_k', 'q6_k']

// Random weights of roughly unit scale; for f16/bf16 the bit patterns are drawn directly, block
// types quantize uniform floats (rows of K).
function randomWeights(addon, dtype, K, M, rand) {
  const n = K * M
  if (QUANT_TYPES.includes(dtype)) {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1
    return addon.quantize(dtype, a, M, K)
  }
  if (dtype === 'f32') {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1
    return a
  }
  const a = new Uint16Array(n)
  for (let i = 0; i < n; i++) {
    const r = (rand() * 4294967296) >>> 0
    const sign = (r & 1) << 15
    if (dtype === 'bf16') a[i] = sign | ((120 + ((r >>> 1) & 7)) << 7) | ((r >>> 4) & 0x7f)
    else a[i] = sign | ((10 + ((r >>> 1) & 7)) << 10) | ((r >>> 4) & 0x3ff)
  }
  return a
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

function cpuMHz() {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

// Seconds one runOp call costs beyond its kernel (graph set-up, dispatch to the threads, copying
// the output); included in every timing, and significant for the smallest decode shapes.
function callOverhead(addon, threads) {
  const a = new Float32Array(1)
  const ts = [
    { name: 'a', dtype: 'f32', shape: [1, 1], data: a },
    { name: 'b', dtype: 'f32', shape: [1, 1], data: a },
    { name: 'o', dtype: 'f32', shape: [1, 1] },
  ]
  const node = { op: 'add', inputs: [0, 1], output: 2 }
  for (let i = 0; i < 200; i++) addon.runOp('cpu', node, ts, threads)
  const times = []
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 200; i++) addon.runOp('cpu', node, ts, threads)
    times.push((performance.now() - t0) / 1e3 / 200)
  }
  return median(times)
}

// Lets the garbage collector finish with the arrays just made before timing starts: its helper
// threads would otherwise take a core from the kernel's threads (run with --expose-gc to collect
// here at once).
async function settle() {
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 100))
}

/** gemm: the many-row summation order encoder graphs use (the node's i1; native/kernels.h). */
function matmulNode(gemm = false) {
  return { op: 'matmul', inputs: [0, 1, -1], output: 2, i: [0, gemm ? 1 : 0] }
}

function tensors(x, w, dtype, N, K, M) {
  return [
    { name: 'x', dtype: 'f32', shape: [N, K], data: x },
    { name: 'w', dtype, shape: [M, K], data: w },
    { name: 'out', dtype: 'f32', shape: [N, M] },
  ]
}

/**
 * Times matmul for each shape, dtype and N; returns one row per case with the median time.
 * The FMA peak uses opts.ghz, else the clock /proc/cpuinfo reports (often the base clock, below
 * what the cores run at under boost).
 * @param {{threads?: number, reps?: number, dtypes?: string[], shapes?: number[][], ns?: number[], ghz?: number, gemm?: boolean}} [opts]
 */
export async function benchMatmul(opts = {}) {
  const addon = loadAddon()
  const threads = opts.threads ?? 2
  const reps = opts.reps ?? 15
  const dtypes = opts.dtypes ?? ['f32', 'bf16', 'f16']
  const shapes = opts.shapes ?? SHAPES
  const ns = opts.ns ?? [1, 64]
  const rand = mulberry32(1234)
  const bandwidth = addon.measureReadBandwidth(1 << 30, threads, 3)
  const overheadUs = callOverhead(addon, threads) * 1e6
  const mhz = opts.ghz ? opts.ghz * 1000 : cpuMHz()
  // 2 FMA pipes x 8 lanes (16 with AVX-512) x 2 flops per cycle per core
  const flopsPerCycle = /avx512/.test(addon.cpuInfo().kernels) ? 64 : 32
  const peak = mhz
    ? mhz * 1e6 * flopsPerCycle * Math.min(threads, addon.cpuInfo().hardwareThreads)
    : undefined
  const profiled = addon.opProfile().enabled
  const rows = []
  for (const [K, M] of shapes) {
    for (const dtype of dtypes) {
      const first = randomWeights(addon, dtype, K, M, rand)
      const bytes = first.byteLength
      const copies = Math.max(1, Math.ceil(COLD_BYTES / bytes))
      const ws = [first]
      for (let c = 1; c < copies; c++) ws.push(randomWeights(addon, dtype, K, M, rand))
      for (const N of ns) {
        const x = new Float32Array(N * K)
        for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1
        await settle()
        const specs = ws.map((w) => tensors(x, w, dtype, N, K, M))
        const node = matmulNode(opts.gemm)
        // decode: one call per copy (cold weights); prefill: reuse one copy (compute bound)
        const perRep = N === 1 ? copies : Math.max(1, Math.ceil(4e8 / (2 * N * K * M)))
        for (let i = 0; i < Math.min(perRep, 4); i++) addon.runOp('cpu', node, specs[i % copies], threads)
        const times = []
        for (let r = 0; r < reps; r++) {
          addon.opProfile() // clears it
          const t0 = performance.now()
          for (let i = 0; i < perRep; i++) addon.runOp('cpu', node, specs[N === 1 ? i : 0], threads)
          const wall = (performance.now() - t0) / 1e3 / perRep
          const prof = addon.opProfile()
          const us = (N === 1 ? prof.decode : prof.prefill).ops.matmul?.us_per_step
          times.push(profiled && us !== undefined ? us / 1e6 : wall)
        }
        const secs = median(times)
        const row = { K, M, dtype, N, threads, ms: secs * 1e3, bestMs: Math.min(...times) * 1e3 }
        if (N === 1) {
          row.gbps = bytes / secs / 1e9
          row.pctBandwidth = (100 * bytes) / secs / bandwidth
          // wall times: the kernel alone, estimated as the time less one call's overhead
          const net = secs - overheadUs / 1e6
          if (!profiled && net > 0) row.netGbps = bytes / net / 1e9
        }
        row.gflops = (2 * N * K * M) / secs / 1e9
        if (peak) row.pctPeak = (100 * row.gflops * 1e9) / peak
        rows.push(row)
      }
    }
  }
  return {
    bandwidthGBps: bandwidth / 1e9,
    peakGflops: peak ? peak / 1e9 : undefined,
    overheadUs,
    profiled,
    reps,
    rows,
  }
}

function flag(args, name, def) {
  const i = args.indexOf(name)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def
}

async function main() {
  const args = process.argv.slice(2)
  const result = await benchMatmul({
    threads: Number(flag(args, '--threads', '2')),
    reps: Number(flag(args, '--reps', '15')),
    dtypes: flag(args, '--dtype', 'f32,bf16,f16').split(','),
    ns: flag(args, '--n', '1,64').split(',').map(Number),
    gemm: args.includes('--gemm'),
    ghz: flag(args, '--ghz') ? Number(flag(args, '--ghz')) : undefined,
    shapes: flag(args, '--shapes')
      ?.split(',')
      .map((s) => s.split('x').map(Number)),
  })
  if (args.includes('--json')) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  const peak = result.peakGflops ? `, FMA peak ${result.peakGflops.toFixed(0)} GFLOPS` : ''
  console.log(`read bandwidth ${result.bandwidthGBps.toFixed(1)} GB/s${peak}`)
  console.log(
    result.profiled
      ? `kernel times from the op profile (runOp's own overhead, ${result.overheadUs.toFixed(0)} µs a call, left out); medians of ${result.reps} runs`
      : `runOp wall times, its overhead of ${result.overheadUs.toFixed(0)} µs per call included; medians of ${result.reps} runs`,
  )
  console.log('    K      M  dtype    N      ms  best ms     GB/s  %bw  net GB/s   GFLOPS  %peak')
  for (const r of result.rows) {
    const cols = [
      String(r.K).padStart(5),
      String(r.M).padStart(6),
      r.dtype.padStart(6),
      String(r.N).padStart(4),
      r.ms.toFixed(3).padStart(7),
      r.bestMs.toFixed(3).padStart(8),
      r.gbps === undefined ? '        ' : r.gbps.toFixed(1).padStart(8),
      r.pctBandwidth === undefined ? '    ' : r.pctBandwidth.toFixed(0).padStart(4),
      r.netGbps === undefined ? '         ' : r.netGbps.toFixed(1).padStart(9),
      r.gflops.toFixed(1).padStart(8),
      r.pctPeak === undefined ? '' : r.pctPeak.toFixed(0).padStart(6),
    ]
    console.log(cols.join(' '))
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
