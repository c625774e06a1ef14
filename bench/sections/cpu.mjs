// kiln against llama.cpp at its best on this CPU: the 110M benchmark llama as GGUF in seven types
// (kiln's exporter/quantizer writes each file; all three engines read the same file), prefill of a
// 64-token prompt and decode of 128 tokens after it, for
//   kiln             bench/engine-child.mjs (fresh process per run)
//   native llama.cpp llama-bench built for this CPU from node-llama-cpp's bundled source (llama-native.mjs)
//   node-llama-cpp   its prebuilt binary (bench/llamacpp-child.mjs)
// at each thread count of BENCH_CPU_THREADS (default 1,2), runs interleaved, medians of
// BENCH_CPU_RUNS (default 3). Then each engine at its best thread count, kiln's ratios, and decode
// as a fraction of the read-bandwidth roofline measured in the same run (a decode step reads every
// weight but the token-embedding table), and kiln's decode step by op kind (one more run with
// KILN_PROFILE=1): what the step spends outside the matmuls.
// Usage: npm run bench -- cpu     (BENCH_CPU_TYPES=q4_0,q8_0 picks types; first use builds llama-bench)
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ensureLlamaBench, llamaBench, llamaBenchFeatures } from '../llama-native.mjs'
import { benchLlamaCpp, loadLlamaCpp } from '../llamacpp.mjs'
import { makeBenchModel } from '../make-model.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const PROMPT = 64
const NEW = 128
const RUNS = Number(process.env.BENCH_CPU_RUNS ?? 3)
const THREADS = (process.env.BENCH_CPU_THREADS ?? '1,2').split(',').map(Number)
const TYPES = (process.env.BENCH_CPU_TYPES ?? 'f32,f16,bf16,q8_0,q4_0,q4_k_m,q6_k').split(',')

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—')

function kilnRun(file, threads, env = {}) {
  const p = spawnSync(
    process.execPath,
    [path.join(here, '..', 'engine-child.mjs'), file, String(threads), String(PROMPT), String(NEW)],
    { encoding: 'utf8', env: { ...process.env, ...env } },
  )
  if (p.status !== 0) throw new Error(`kiln bench child failed: ${p.stderr}`)
  return JSON.parse(p.stdout.trim().split('\n').pop())
}

async function writeGguf(dir, type) {
  const out = path.join(dir, `cpu-${type}.gguf`)
  const weights = path.join(dir, 'model.safetensors')
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(weights).mtimeMs) return out
  const { exportGguf } = await import(pathToFileURL(path.join(root, 'dist/core/export/to-gguf.js')).href)
  if (existsSync(out)) rmSync(out)
  exportGguf(dir, out, { dtype: type })
  return out
}

/** Bytes one decode step reads: every tensor but the token-embedding table (one row of it). */
async function decodeBytes(file) {
  const { openGguf } = await import(pathToFileURL(path.join(root, 'dist/core/formats/gguf-read.js')).href)
  const g = openGguf(file)
  let bytes = 0
  for (const t of g.tensors.values()) if (t.name !== 'token_embd.weight') bytes += t.byteLength
  return { bytes, total: statSync(file).size }
}

export async function run() {
  const addon = createRequire(import.meta.url)(path.join(root, 'build/Release/kiln_native.node'))
  const { bin, commit, flags } = ensureLlamaBench()
  const haveNlc = (await loadLlamaCpp()) !== undefined
  const dir = await makeBenchModel('f32')
  const files = {}
  for (const type of TYPES) files[type] = await writeGguf(dir, type)
  const { cpuReport } = await import(pathToFileURL(path.join(root, 'dist/cli/env-report/cpu.js')).href)
  const cpu = cpuReport() // what `kiln env` says of the CPU
  const native = llamaBenchFeatures(bin, files[TYPES[0]])
  const bw = {}
  for (const t of THREADS) bw[t] = addon.measureReadBandwidth(1 << 30, t, 5)
  console.log('')
  console.log(`CPU: ${cpu.model}; features: ${cpu.simd.join(' ')}`)
  console.log(
    `native llama.cpp: llama-bench ${native.commit ?? ''} (build ${native.build ?? '?'}, source ${commit.slice(0, 8)}), -DGGML_NATIVE=ON${flags ? `, C/C++ flags ${flags} (bench/llama-native.mjs says why)` : ''}`,
  )
  console.log(`kiln kernel tier: ${addon.cpuInfo().kernels}`)
  console.log(
    `read bandwidth: ${THREADS.map((t) => `${t} thread${t > 1 ? 's' : ''} ${fmt(bw[t] / 1e9, 1)} GB/s`).join(', ')}`,
  )
  console.log(
    `(${PROMPT}-token prompt, then ${NEW} decoded tokens; medians of ${RUNS} interleaved runs, fresh processes)`,
  )
  console.log('')
  console.log(
    '| type | MB | threads | kiln prefill | llama.cpp | node-llama-cpp | kiln decode | llama.cpp | node-llama-cpp |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const best = []
  const profiles = []
  for (const type of TYPES) {
    const file = files[type]
    const size = await decodeBytes(file)
    const m = {} // m[engine][threads] = {prefill, decode}
    for (const e of ['kiln', 'native', 'nlc']) m[e] = Object.fromEntries(THREADS.map((t) => [t, []]))
    for (let r = 0; r < RUNS; r++) {
      for (const t of THREADS) {
        m.kiln[t].push(kilnRun(file, t))
        m.native[t].push(llamaBench({ bin, gguf: file, threads: t, prompt: PROMPT, gen: NEW }))
        if (haveNlc)
          m.nlc[t].push(
            await benchLlamaCpp({ ggufPath: file, threads: t, promptTokens: PROMPT, newTokens: NEW }),
          )
      }
    }
    const med = (e, t, k) => (m[e][t].length ? median(m[e][t].map((x) => x[k])) : Number.NaN)
    for (const t of THREADS) {
      console.log(
        `| ${type} | ${fmt(size.total / 1e6, 0)} | ${t} | ${fmt(med('kiln', t, 'prefill_tokens_per_s'))} | ` +
          `${fmt(med('native', t, 'prefill_tokens_per_s'))} | ${fmt(med('nlc', t, 'prefill_tokens_per_s'))} | ` +
          `${fmt(med('kiln', t, 'decode_tokens_per_s'))} | ${fmt(med('native', t, 'decode_tokens_per_s'))} | ` +
          `${fmt(med('nlc', t, 'decode_tokens_per_s'))} |`,
      )
    }
    const top = (e, k) => {
      let b = { v: Number.NaN, t: 0 }
      for (const t of THREADS) {
        const v = med(e, t, k)
        if (!(v <= b.v)) b = { v, t }
      }
      return b
    }
    const row = { type, bytes: size.bytes }
    for (const e of ['kiln', 'native', 'nlc'])
      for (const k of ['prefill', 'decode']) row[`${e}_${k}`] = top(e, `${k}_tokens_per_s`)
    best.push(row)
    const t = row.kiln_decode.t
    profiles.push({ type, threads: t, ...kilnRun(file, t, { KILN_PROFILE: '1' }).profile })
  }
  console.log('')
  console.log('Each engine at its best thread count (t):')
  console.log('')
  console.log(
    '| type | kiln prefill (t) | llama.cpp (t) | ratio | kiln decode (t) | llama.cpp (t) | ratio | kiln roofline | llama.cpp roofline | ÷ node-llama-cpp prefill, decode |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const at = (b) => `${fmt(b.v)} (${b.t})`
  for (const r of best) {
    const roof = (b) => `${fmt((100 * r.bytes * b.v) / bw[b.t], 0)}%`
    console.log(
      `| ${r.type} | ${at(r.kiln_prefill)} | ${at(r.native_prefill)} | ${fmt(r.kiln_prefill.v / r.native_prefill.v, 2)}× | ` +
        `${at(r.kiln_decode)} | ${at(r.native_decode)} | ${fmt(r.kiln_decode.v / r.native_decode.v, 2)}× | ` +
        `${roof(r.kiln_decode)} | ${roof(r.native_decode)} | ` +
        `${fmt(r.kiln_prefill.v / r.nlc_prefill.v, 2)}×, ${fmt(r.kiln_decode.v / r.nlc_decode.v, 2)}× |`,
    )
  }
  printProfiles(profiles)
}

/** The decode step's time per op kind (KILN_PROFILE=1): ms per token and share of the step. */
function printProfiles(profiles) {
  const kinds = [...new Set(profiles.flatMap((p) => Object.keys(p.decode ?? {})))].sort()
  console.log('')
  console.log(
    "kiln decode step by op kind (KILN_PROFILE=1, thread 0's time in each node incl. its barrier), µs per token:",
  )
  console.log('')
  console.log(`| type (t) | step | ${kinds.join(' | ')} | outside matmul |`)
  console.log(`| --- | --- | ${kinds.map(() => '---').join(' | ')} | --- |`)
  for (const p of profiles) {
    const d = p.decode ?? {}
    const step = Object.values(d).reduce((a, b) => a + b, 0)
    const cells = kinds.map((k) => fmt(d[k] ?? 0, 0))
    const outside = step - (d.matmul ?? 0)
    console.log(
      `| ${p.type} (${p.threads}) | ${fmt(step, 0)} | ${cells.join(' | ')} | ${fmt((100 * outside) / step, 0)}% |`,
    )
  }
}
