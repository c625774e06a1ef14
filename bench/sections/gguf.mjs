// GGUF files side by side: the 110M benchmark llama exported/quantized by kiln to F32, F16, Q8_0,
// Q4_0 (and the K-quant mixes), then run by kiln and by llama.cpp (node-llama-cpp) from the SAME
// file, 2 threads, interleaved fresh processes, medians of 3. Prints quantize time and sizes too.
// Usage: npm run bench -- gguf      (BENCH_GGUF_TYPES=q4_0,q8_0 to pick types)
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { benchLlamaCpp } from '../llamacpp.mjs'
import { makeBenchModel } from '../make-model.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const THREADS = 2
const RUNS = 3
const PROMPT = 64
const NEW = 128
const TYPES = (process.env.BENCH_GGUF_TYPES ?? 'f32,f16,q8_0,q4_0,q4_k_m,q6_k').split(',')

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 1) => x.toFixed(d)

function kilnRun(file) {
  const p = spawnSync(
    process.execPath,
    [path.join(here, '..', 'engine-child.mjs'), file, String(THREADS), String(PROMPT), String(NEW)],
    { encoding: 'utf8' },
  )
  if (p.status !== 0) throw new Error(`kiln bench child failed: ${p.stderr}`)
  return JSON.parse(p.stdout.trim().split('\n').pop())
}

/** Writes <dir>/kiln-<type>.gguf with kiln's exporter, timed (always fresh: the time is a figure). */
async function writeGguf(dir, type) {
  const { exportGguf } = await import(pathToFileURL(path.join(root, 'dist/core/export/to-gguf.js')).href)
  const out = path.join(dir, `kiln-${type}.gguf`)
  if (existsSync(out)) rmSync(out)
  const t0 = performance.now()
  exportGguf(dir, out, { dtype: type })
  return { file: out, seconds: (performance.now() - t0) / 1000, bytes: statSync(out).size }
}

export async function run() {
  const dir = await makeBenchModel('f32')
  console.log('')
  console.log(
    `GGUF (same file for both engines; ${PROMPT}-token prompt, ${NEW} new tokens, greedy, ${THREADS} threads, median of ${RUNS}, interleaved)`,
  )
  console.log('')
  console.log(
    '| type | size MB | write s | kiln prefill tok/s | llama.cpp prefill | ratio | kiln decode tok/s | llama.cpp decode | ratio |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const type of TYPES) {
    const g = await writeGguf(dir, type)
    const kiln = []
    const llama = []
    for (let r = 0; r < RUNS; r++) {
      kiln.push(kilnRun(g.file))
      llama.push(
        await benchLlamaCpp({ ggufPath: g.file, threads: THREADS, promptTokens: PROMPT, newTokens: NEW }),
      )
    }
    const k = (key) => median(kiln.map((x) => x[key]))
    const l = (key) => median(llama.map((x) => x[key]))
    const kp = k('prefill_tokens_per_s')
    const lp = l('prefill_tokens_per_s')
    const kd = k('decode_tokens_per_s')
    const ld = l('decode_tokens_per_s')
    console.log(
      `| ${type} | ${fmt(g.bytes / 1e6, 0)} | ${fmt(g.seconds, 2)} | ${fmt(kp)} | ${fmt(lp)} | ${fmt(kp / lp, 2)}× | ` +
        `${fmt(kd)} | ${fmt(ld)} | ${fmt(kd / ld, 2)}× |`,
    )
    rmSync(g.file)
  }
}
