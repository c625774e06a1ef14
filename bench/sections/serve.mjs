// kiln serve beside llama.cpp's llama-server (bench/llama-server.mjs builds it for this CPU) on the
// same GGUF files of the 110M benchmark llama (F32 and Q4_K_M), 2 threads, 128-token prompts and
// 128 new tokens (EOS ignored), for 1, 4, 16 and 64 concurrent streaming clients: aggregate
// generated tokens/s, time to first token and inter-token latency (p50/p99), peak RSS. llama-server
// runs with --parallel = clients (continuous batching) and -c = clients × (prompt + new + 64), as
// an explicit --parallel splits the context per slot. Each server is started fresh per row, warmed
// with one request, then measured on one round. Also: a 512-token shared system prompt, time to
// first token of a second request with kiln's prefix cache on and off.
// Run: npm run bench -- serve   (BENCH_SERVE_CLIENTS=1,4 BENCH_SERVE_TYPES=f32 to narrow it)
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { buildLlamaServer } from '../llama-server.mjs'
import { BENCH_SHAPE, makeBenchModel } from '../make-model.mjs'
import { loadRound, peakRssMb, waitHealthy } from '../serve/load.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const THREADS = 2
const PROMPT = 128
const NEW = 128
const CLIENTS = (process.env.BENCH_SERVE_CLIENTS ?? '1,4,16,64').split(',').map(Number)
const TYPES = (process.env.BENCH_SERVE_TYPES ?? 'f32,q4_k_m').split(',')
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—')

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
    s.on('error', rej)
  })
}

async function gguf(dir, type) {
  const out = path.join(dir, `serve-${type}.gguf`)
  if (!existsSync(out)) {
    const { exportGguf } = await import(pathToFileURL(path.join(root, 'dist/core/export/to-gguf.js')).href)
    exportGguf(dir, out, { dtype: type })
  }
  return out
}

/** Starts a server process, waits for /health, runs `body(base)`, then stops it; adds peak RSS. */
async function withServer(cmd, args, port, body) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-4000)
  })
  const exited = new Promise((res) => child.on('exit', res))
  try {
    const base = `http://127.0.0.1:${port}`
    await Promise.race([
      waitHealthy(base),
      exited.then((code) => {
        throw new Error(`${path.basename(cmd)} exited (${code}) before it was healthy: ${err}`)
      }),
    ])
    const out = await body(base)
    return { ...out, rssMb: peakRssMb(child.pid) }
  } finally {
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }
}

async function measure(base, clients, extra = {}) {
  const load = { promptTokens: PROMPT, newTokens: NEW, vocab: BENCH_SHAPE.V, model: 'bench', ...extra }
  await loadRound(base, { ...load, clients: 1, newTokens: 8 }) // warm-up
  return loadRound(base, { ...load, clients })
}

async function kiln(file, clients, extraArgs = [], measureWith = (b) => measure(b, clients)) {
  const port = await freePort()
  const ctx = PROMPT + NEW + 64
  const args = [
    path.join(root, 'bin/run.js'),
    'serve',
    '-m',
    file,
    '--port',
    String(port),
    '--max-seqs',
    String(clients),
    '--context',
    String(Math.max(ctx, 1024)),
    '--threads',
    String(THREADS),
    '--served-model-name',
    'bench',
    ...extraArgs,
  ]
  return withServer(process.execPath, args, port, measureWith)
}

async function llama(bin, file, clients, measureWith = (b) => measure(b, clients)) {
  const port = await freePort()
  const args = [
    '-m',
    file,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '-t',
    String(THREADS),
    '-tb',
    String(THREADS),
    '--parallel',
    String(clients),
    '-c',
    String(clients * (PROMPT + NEW + 64)),
    '-a',
    'bench',
  ]
  return withServer(bin, args, port, measureWith)
}

export async function run() {
  const bin = buildLlamaServer()
  const dir = await makeBenchModel('f32')
  console.log('')
  console.log(
    `serve: ${PROMPT}-token prompts, ${NEW} new tokens, greedy, EOS ignored, ${THREADS} threads, one round per row after a warm-up request`,
  )
  console.log('')
  console.log(
    '| weights | clients | kiln tok/s | llama-server tok/s | ratio | kiln TTFT p50/p99 ms | llama-server TTFT p50/p99 | kiln ITL p50/p99 ms | llama-server ITL p50/p99 | kiln / llama-server peak RSS MB |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const type of TYPES) {
    const file = await gguf(dir, type)
    for (const clients of CLIENTS) {
      const k = await kiln(file, clients)
      const l = await llama(bin, file, clients)
      console.log(
        `| ${type.toUpperCase()} | ${clients} | ${fmt(k.tokensPerS)} | ${fmt(l.tokensPerS)} | ${fmt(k.tokensPerS / l.tokensPerS, 2)}× | ${fmt(k.ttftP50, 0)} / ${fmt(k.ttftP99, 0)} | ${fmt(l.ttftP50, 0)} / ${fmt(l.ttftP99, 0)} | ${fmt(k.itlP50)} / ${fmt(k.itlP99)} | ${fmt(l.itlP50)} / ${fmt(l.itlP99)} | ${fmt(k.rssMb, 0)} / ${fmt(l.rssMb, 0)} |`,
      )
    }
  }
  // Prefix caching: the second of two requests that share a 512-token system prompt.
  const file = await gguf(dir, 'f32')
  const ttftSecond = async (base) => {
    const load = {
      promptTokens: 528,
      shared: 512,
      newTokens: 4,
      vocab: BENCH_SHAPE.V,
      model: 'bench',
      clients: 1,
    }
    await loadRound(base, { ...load, promptTokens: 16, shared: 0 }) // warm-up without the prefix
    await loadRound(base, { ...load, salt: 1 })
    return loadRound(base, { ...load, salt: 2 })
  }
  const on = await kiln(file, 1, [], ttftSecond)
  const off = await kiln(file, 1, ['--no-prefix-cache'], ttftSecond)
  console.log('')
  console.log(
    `prefix cache (512-token shared prompt + 16, second request): TTFT ${fmt(on.ttftP50, 0)} ms with, ${fmt(off.ttftP50, 0)} ms without: ${fmt(off.ttftP50 / on.ttftP50, 1)}× faster`,
  )
}
