// npm run bench: kiln's speed figures on this machine, side by side with llama.cpp, medians of runs.
//   engine     110M-class llama (F32, BF16) at 2 threads: prefill/decode tokens/s for kiln and for
//              llama.cpp (node-llama-cpp, same weights as GGUF, same prompt ids, runs interleaved),
//              load time, peak RSS, decode as a fraction of the memory-bandwidth roofline (bytes a
//              decode step reads — all weights but the embedding table — × tokens/s ÷ read bandwidth)
//   tokenizer  encode MB/s single-threaded
//   more       every bench/sections/<name>.mjs (exporting `async function run()`) is a section too
// Usage: npm run bench [-- engine|tokenizer|<section> ...]   (needs `npm run build`)
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { benchLlamaCpp, exportBenchGguf } from './llamacpp.mjs'
import { BENCH_SHAPE, makeBenchModel } from './make-model.mjs'
import { benchTokenizer } from './tokenizer.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const addon = createRequire(import.meta.url)(path.join(root, 'build/Release/kiln_native.node'))
const THREADS = 2
const RUNS = 3
const PROMPT = 64
const NEW = 128

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 1) => x.toFixed(d)

function kilnRun(dir) {
  const p = spawnSync(
    process.execPath,
    [path.join(here, 'engine-child.mjs'), dir, String(THREADS), String(PROMPT), String(NEW)],
    { encoding: 'utf8' },
  )
  if (p.status !== 0) throw new Error(`bench child failed: ${p.stderr}`)
  return JSON.parse(p.stdout.trim().split('\n').pop())
}

async function engine() {
  const bw = addon.measureReadBandwidth(1 << 30, THREADS, 5)
  console.log(`read bandwidth (${THREADS} threads): ${fmt(bw / 1e9, 2)} GB/s`)
  console.log('')
  console.log(
    '| weights | size MB | engine | load ms | prefill tok/s | decode tok/s | roofline | peak RSS MB | RSS − weights MB |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const ratios = []
  for (const dtype of ['f32', 'bf16']) {
    const dir = await makeBenchModel(dtype)
    const bytes = statSync(path.join(dir, 'model.safetensors')).size
    // A decode step reads every weight but the embedding table (one row of it): the roofline's bytes.
    const readPerToken = bytes - BENCH_SHAPE.V * BENCH_SHAPE.C * (dtype === 'f32' ? 4 : 2)
    const gguf = await exportBenchGguf(dir, dtype)
    const kiln = []
    const llama = []
    for (let r = 0; r < RUNS; r++) {
      kiln.push(kilnRun(dir))
      llama.push(
        await benchLlamaCpp({ ggufPath: gguf, threads: THREADS, promptTokens: PROMPT, newTokens: NEW }),
      )
    }
    const row = (name, runs) => {
      const m = (k) => median(runs.map((x) => x[k]))
      console.log(
        `| ${dtype} | ${fmt(bytes / 1e6, 0)} | ${name} | ${fmt(m('load_ms'), 0)} | ${fmt(m('prefill_tokens_per_s'))} | ` +
          `${fmt(m('decode_tokens_per_s'))} | ${fmt((100 * readPerToken * m('decode_tokens_per_s')) / bw, 0)}% | ` +
          `${fmt(m('peak_rss_bytes') / 1e6, 0)} | ${fmt((m('peak_rss_bytes') - bytes) / 1e6, 0)} |`,
      )
      return m
    }
    const k = row('kiln', kiln)
    const l = row('llama.cpp', llama)
    ratios.push(
      `${dtype}: prefill ${fmt(k('prefill_tokens_per_s') / l('prefill_tokens_per_s'), 2)}×, ` +
        `decode ${fmt(k('decode_tokens_per_s') / l('decode_tokens_per_s'), 2)}×`,
    )
  }
  console.log('')
  console.log(`kiln ÷ llama.cpp — ${ratios.join('; ')}`)
  console.log(
    `(${PROMPT}-token prompt, ${NEW} new tokens, greedy, ${THREADS} threads, median of ${RUNS} fresh processes each, interleaved)`,
  )
}

async function tokenizer() {
  console.log('')
  console.log('| tokenizer (encode, 1 thread) | MB/s |')
  console.log('| --- | --- |')
  for (const row of await benchTokenizer())
    console.log(`| ${row.name.replace('tokenizer/', '')} | ${fmt(row.mb_per_s, 2)} |`)
}

const SECTIONS = { engine, tokenizer }
// Sections in their own files, so each capability's benchmark lives next to nothing else.
const sectionDir = path.join(here, 'sections')
for (const f of existsSync(sectionDir) ? readdirSync(sectionDir).sort() : []) {
  if (!f.endsWith('.mjs')) continue
  const mod = await import(pathToFileURL(path.join(sectionDir, f)).href)
  SECTIONS[f.replace(/\.mjs$/, '')] = mod.run
}
const wanted = process.argv.slice(2).filter((a) => a in SECTIONS)
for (const name of wanted.length ? wanted : Object.keys(SECTIONS)) await SECTIONS[name]()
