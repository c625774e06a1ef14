// npm run bench: kiln's speed figures on this machine, with medians over repeated runs.
//   engine     110M-class llama (F32, BF16) at 2 threads: prefill/decode tokens/s, load, peak RSS,
//              decode as a fraction of the memory-bandwidth roofline
//   tokenizer  encode MB/s single-threaded
// Usage: npm run bench [-- engine|tokenizer ...]   (needs `npm run build`)
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeBenchModel } from './make-model.mjs'
import { benchTokenizer } from './tokenizer.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const addon = createRequire(import.meta.url)(path.join(root, 'build/Release/kiln_native.node'))
const THREADS = 2
const RUNS = 3
const PROMPT = 64
const NEW = 128
// llama.cpp on this machine, from the issue: F32 decode ≈ 36 tokens/s at 2 threads.
const LLAMA_CPP_F32_DECODE = 36

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 1) => x.toFixed(d)

async function engine() {
  const bw = addon.measureReadBandwidth(1 << 30, THREADS, 5)
  console.log(`read bandwidth (${THREADS} threads): ${fmt(bw / 1e9, 2)} GB/s`)
  console.log('')
  console.log(
    '| weights | size MB | load ms | prefill tok/s | decode tok/s | roofline | peak RSS MB | RSS − weights MB |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
  const out = {}
  for (const dtype of ['f32', 'bf16']) {
    const dir = await makeBenchModel(dtype)
    const bytes = statSync(path.join(dir, 'model.safetensors')).size
    const runs = []
    for (let r = 0; r < RUNS; r++) {
      const p = spawnSync(
        process.execPath,
        [path.join(here, 'engine-child.mjs'), dir, String(THREADS), String(PROMPT), String(NEW)],
        {
          encoding: 'utf8',
        },
      )
      if (p.status !== 0) throw new Error(`bench child failed: ${p.stderr}`)
      runs.push(JSON.parse(p.stdout.trim().split('\n').pop()))
    }
    const m = (k) => median(runs.map((x) => x[k]))
    const decode = m('decode_tokens_per_s')
    const rss = m('peak_rss_bytes')
    out[dtype] = { decode, prefill: m('prefill_tokens_per_s') }
    console.log(
      `| ${dtype} | ${fmt(bytes / 1e6, 0)} | ${fmt(m('load_ms'), 0)} | ${fmt(m('prefill_tokens_per_s'))} | ${fmt(decode)} | ` +
        `${fmt((100 * bytes * decode) / bw, 0)}% | ${fmt(rss / 1e6, 0)} | ${fmt((rss - bytes) / 1e6, 0)} |`,
    )
  }
  console.log('')
  console.log(
    `decode F32 vs llama.cpp's ${LLAMA_CPP_F32_DECODE} tok/s (issue figure): ${fmt(out.f32.decode / LLAMA_CPP_F32_DECODE, 2)}×; ` +
      `BF16 vs F32 decode: ${fmt(out.bf16.decode / out.f32.decode, 2)}×`,
  )
  console.log(
    `(${PROMPT}-token prompt, ${NEW} new tokens, ${THREADS} threads, median of ${RUNS} fresh processes)`,
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
const wanted = process.argv.slice(2).filter((a) => a in SECTIONS)
for (const name of wanted.length ? wanted : Object.keys(SECTIONS)) await SECTIONS[name]()
