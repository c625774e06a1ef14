// npm run bench -- download: kiln download against @huggingface/hub's snapshotDownload, both fetching
// a ~500 MB repo of 4 files from the local Hub-protocol test server (test/core/hub/hub-server.mjs), fresh
// caches, in one run, interleaved, median of RUNS. The server streams the files from .bench/download
// (made once, deterministically) and can limit each connection's rate as a CDN edge does
// (KILN_BENCH_RATE_MBPS, default 50 MB/s per connection; 0 = unlimited). Printed: the server's
// single-stream rate, each tool's wall time (process start to exit), kiln's peak RSS, and the rate
// of kiln's slowest file while all are fetched in parallel (as the file server saw it: bytes over
// the time its answer was open) as a share of the single-stream rate.
import { spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startHubServer } from '../../test/core/hub/hub-server.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const FILES = 4
const SIZE = 125 * 1024 * 1024
const RUNS = Number(process.env.KILN_BENCH_RUNS ?? 3)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** 4 × 125 MiB of AES-CTR keystream (fast, deterministic), written once, with their sha256. */
async function makePayloads() {
  const dir = path.join(root, '.bench', 'download')
  const files = []
  for (let i = 0; i < FILES; i++) {
    const file = path.join(dir, `model-0000${i + 1}-of-0000${FILES}.safetensors`)
    const meta = `${file}.sha256`
    if (!(existsSync(file) && statSync(file).size === SIZE && existsSync(meta))) {
      await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }))
      const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, i + 1), Buffer.alloc(16))
      const hash = createHash('sha256')
      const out = createWriteStream(file)
      const zeros = Buffer.alloc(1 << 20)
      for (let done = 0; done < SIZE; done += zeros.length) {
        const chunk = cipher.update(zeros)
        hash.update(chunk)
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', r))
      }
      await new Promise((r, j) => out.end((e) => (e ? j(e) : r())))
      writeFileSync(meta, hash.digest('hex'))
    }
    files.push({ path: path.basename(file), file, size: SIZE, sha256: readFileSync(meta, 'utf8').trim() })
  }
  return files
}

/** Runs a command to completion without blocking this process (the server lives here). */
function execute(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err += d
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err || out}`))
      else resolve({ seconds, out, err })
    })
  })
}

const SINGLE_STREAM = `
const http = require('node:http')
const t0 = performance.now()
http.get(process.argv[1], (res) => {
  let n = 0
  res.on('data', (c) => { n += c.length })
  res.on('end', () => console.log(JSON.stringify({ bytes: n, seconds: (performance.now() - t0) / 1000 })))
})`

const SNAPSHOT = `
import { snapshotDownload } from '@huggingface/hub'
console.debug = () => {}
await snapshotDownload({ repo: process.argv[1], cacheDir: process.argv[2], hubUrl: process.env.HF_ENDPOINT })
console.log(JSON.stringify({ maxRss: process.resourceUsage().maxRSS * 1024 }))`

async function scenario(server, files, rate, label) {
  server.setRate(rate)
  const singles = []
  for (let r = 0; r < 2; r++) {
    const { out } = await execute(process.execPath, [
      '-e',
      SINGLE_STREAM,
      `${server.cdnUrl}/blobs/${files[r].sha256}`,
    ])
    const s = JSON.parse(out)
    singles.push(s.bytes / s.seconds)
  }
  const single = median(singles)
  const kiln = []
  const hf = []
  const rss = []
  const perFile = []
  const haveTime = existsSync('/usr/bin/time')
  for (let r = 0; r < RUNS; r++) {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-dl-'))
    try {
      const env = { HF_ENDPOINT: server.endpoint, HF_HUB_CACHE: path.join(tmp, 'kiln'), HF_TOKEN: '' }
      const rssFile = path.join(tmp, 'rss')
      const args = ['download', 'bench/model', '--quiet']
      const logFrom = server.log.length
      const k = haveTime
        ? await execute(
            '/usr/bin/time',
            ['-f', '%M', '-o', rssFile, process.execPath, 'bin/run.js', ...args],
            env,
          )
        : await execute(process.execPath, ['bin/run.js', ...args], env)
      kiln.push(k.seconds)
      // Each file's rate as the file server saw it: its bytes over the time its answer was open.
      const gets = server.log.slice(logFrom).filter((l) => l.server === 'cdn' && l.end !== undefined)
      perFile.push(Math.min(...gets.map((l) => SIZE / ((l.end - l.start) / 1000))))
      if (haveTime) rss.push(Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) * 1024)
      rmSync(path.join(tmp, 'kiln'), { recursive: true, force: true })
      const h = await execute(
        process.execPath,
        ['--input-type=module', '-e', SNAPSHOT, 'bench/model', path.join(tmp, 'hf')],
        env,
      )
      hf.push(h.seconds)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }
  const total = FILES * SIZE
  const k = median(kiln)
  const h = median(hf)
  console.log(
    `| ${label} | ${(single / 1e6).toFixed(0)} | ${k.toFixed(2)} | ${(total / k / 1e6).toFixed(0)} | ${h.toFixed(2)} | ` +
      `${(total / h / 1e6).toFixed(0)} | ${(h / k).toFixed(2)}× | ${((100 * median(perFile)) / single).toFixed(0)}% | ` +
      `${rss.length ? (median(rss) / 1e6).toFixed(0) : 'n/a'} |`,
  )
}

export async function run() {
  const files = await makePayloads()
  const server = await startHubServer({ pageSize: 100 })
  server.addRepo({
    name: 'bench/model',
    files: [{ path: 'config.json', content: '{"model_type":"llama"}' }, ...files],
  })
  const limited = Number(process.env.KILN_BENCH_RATE_MBPS ?? 50)
  console.log('')
  console.log(
    `kiln download vs @huggingface/hub snapshotDownload: ${FILES} × ${SIZE / 2 ** 20} MiB, fresh caches, median of ${RUNS}, ${os.cpus().length} cores`,
  )
  console.log('')
  console.log(
    '| server | single stream MB/s | kiln s | kiln MB/s | snapshotDownload s | snapshotDownload MB/s | kiln speed-up | slowest file in parallel ÷ single stream | kiln peak RSS MB |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  try {
    if (limited > 0) await scenario(server, files, limited * 1e6, `${limited} MB/s per connection (CDN-like)`)
    await scenario(server, files, 0, 'unlimited (localhost)')
  } finally {
    await server.close()
  }
}
