// Fuzz target hub-api: downloadRepo (what `kiln download` calls) against the Hub stand-in
// (test/core/hub/hub-server.mjs) whose answers are mutated through its answer hook: the revision
// API's JSON (commit, siblings: huge, deep, wrong types), the tree API's pages (entries with paths
// that climb out, absolute, NUL, very long, duplicated or in conflict; sizes negative, huge or
// fractional; malformed oids; pagination links that loop or point elsewhere), the headers of
// `resolve` and of the file server (etags, commits, linked sizes and etags that lie, redirects that
// loop or lead to other hosts, Content-Range, Content-Length), status codes with odd bodies, and
// bodies cut short, longer than announced, chunked wrongly, dripped, late or stalled (hub-answers.ts).
// The property: downloadRepo settles within the bound, with a result or one one-line HubError that
// never shows the token; nothing is written outside the case's folder; every blob under its final
// name (and every snapshot link, every --local-dir file) is complete and verified. The client's
// timeouts and retries are set short through the environment so each case stays fast.
import { createHash } from 'node:crypto'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { downloadRepo } from '../../src/core/hub/download.js'
import { HubError } from '../../src/core/hub/errors.js'
import { type HubServer, randomBytesSeeded, startHubServer } from '../core/hub/hub-server.mjs'
import { caseText, FuzzFailure, fuzzTarget, jsonCodec, kilnAsync } from './harness.js'
import { type Case, caseArbitrary, mutateAnswer, type Route, TOKEN } from './hub-answers.js'

// Short timeouts and few retries, so that a stalled or failing answer costs a fraction of a second.
process.env.KILN_HUB_STALL_TIMEOUT_MS = '600'
process.env.KILN_HUB_API_TIMEOUT_MS = '1500'
process.env.KILN_HUB_RETRIES = '1'
process.env.KILN_HUB_RETRY_BASE_MS = '1'

/** The stand-in's repos: git files and LFS files (over 64 kB), in folders, over several pages. */
const FUZZ_REPOS = [
  {
    name: 'fuzz/tiny',
    files: [
      { path: 'config.json', content: '{"model_type":"tiny"}' },
      { path: 'README.md', content: '# tiny\n' },
      { path: 'model.safetensors', content: randomBytesSeeded(100_000, 7) },
      { path: 'sub/dir/extra.bin', content: randomBytesSeeded(70_000, 8) },
      { path: 'empty.txt', content: '' },
    ],
  },
  {
    name: 'fuzz/one',
    files: [{ path: 'weights.bin', content: randomBytesSeeded(80_000, 9) }],
  },
  // Paths the Hub may hold and a file system may not: a 250-byte name (with `.<etag>.incomplete`
  // beside it in a --local-dir, over 255) and a path of 4,250 bytes.
  {
    name: 'fuzz/long',
    files: [
      { path: 'n'.repeat(250), content: 'a long name' },
      { path: `${'d'.repeat(249)}/`.repeat(17) + 'f', content: 'a long path' },
    ],
  },
]
const TRUE_CONTENTS = new Set(
  FUZZ_REPOS.flatMap((r) => r.files.map((f) => createHash('sha256').update(f.content).digest('hex'))),
)

let server: HubServer
let root: string
let dead: string
let caseNo = 0

beforeAll(async () => {
  server = await startHubServer({ pageSize: 4 })
  for (const r of FUZZ_REPOS) server.addRepo(r)
  server.addRepo({ name: 'fuzz/other', files: [{ path: 'other.txt', content: 'other' }] })
  root = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-hub-'))
  process.env.HF_HOME = path.join(root, 'home')
  // A port nothing listens on: redirects and links to it are refused at once.
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  dead = `http://127.0.0.1:${(s.address() as { port: number }).port}`
  await new Promise((r) => s.close(r))
})

afterAll(async () => {
  server?.setAnswerHook(undefined)
  await server?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

function gitSha1File(file: string): string {
  const b = readFileSync(file)
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex')
}

/** Every path under `dir` (files, links, folders), relative. */
function walk(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const r = rel ? `${rel}/${name}` : name
    out.push(r)
    const st = lstatSync(path.join(dir, name))
    if (st.isDirectory() && !st.isSymbolicLink()) out.push(...walk(path.join(dir, name), r))
  }
  return out
}

/** The cache after a case: links lead to verified blobs inside it, blobs match their names. */
function checkCache(cache: string): void {
  for (const rel of walk(cache)) {
    const p = path.join(cache, rel)
    const st = lstatSync(p)
    const parts = rel.split('/')
    if (st.isSymbolicLink()) {
      if (parts[1] !== 'snapshots') throw new FuzzFailure(`a symlink outside snapshots/: ${rel}`, 'answer')
      let target: string
      try {
        target = realpathSync(p)
      } catch {
        throw new FuzzFailure(`snapshot link ${rel} leads nowhere`, 'answer')
      }
      const blobs = realpathSync(path.join(cache, parts[0], 'blobs'))
      if (path.dirname(target) !== blobs)
        throw new FuzzFailure(`snapshot link ${rel} leads out of the blobs: ${target}`, 'answer')
    } else if (st.isFile()) {
      if (parts[1] === 'blobs' && parts.length === 3) {
        const name = parts[2]
        if (name.endsWith('.incomplete')) continue
        const digest = name.length === 64 ? sha256File(p) : gitSha1File(p)
        if (digest !== name)
          throw new FuzzFailure(`blob ${rel} holds bytes whose hash is ${digest}`, 'answer')
      } else if (parts[1] === 'refs') {
        if (!/^[0-9a-f]{40}$/.test(readFileSync(p, 'utf8')))
          throw new FuzzFailure(`ref ${rel} holds ${JSON.stringify(readFileSync(p, 'utf8'))}`, 'answer')
      } else if (parts[0] === '.locks') {
        // Lock files are removed when released.
        throw new FuzzFailure(`a lock left behind: ${rel}`, 'answer')
      } else if (parts[1] !== '.no_exist') {
        throw new FuzzFailure(`an unexpected file in the cache: ${rel}`, 'answer')
      }
    }
  }
}

/** A --local-dir after a case: every file outside .cache/ is one of the repo's true contents. */
function checkLocalDir(dir: string): void {
  for (const rel of walk(dir)) {
    const p = path.join(dir, rel)
    const st = lstatSync(p)
    if (st.isSymbolicLink()) throw new FuzzFailure(`a symlink in the local dir: ${rel}`, 'answer')
    if (!st.isFile() || rel.startsWith('.cache/')) continue
    if (!TRUE_CONTENTS.has(sha256File(p)))
      throw new FuzzFailure(`local-dir file ${rel} is not complete (${st.size} bytes)`, 'answer')
  }
}

fuzzTarget<Case>({
  target: 'hub-api',
  arbitrary: caseArbitrary,
  caseMs: 8_000,
  ciMs: 3_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) => caseText(c, 4000),
  setupMs: 10_000,
  async run(c) {
    const repo = FUZZ_REPOS[c.repo % FUZZ_REPOS.length]
    const dir = path.join(root, `case-${caseNo++}`)
    const cache = path.join(dir, 'cache')
    const local = path.join(dir, 'local')
    mkdirSync(dir)
    const logFrom = server.log.length
    const seen: Record<Route, number> = { revision: 0, tree: 0, resolve: 0, blob: 0 }
    server.setAnswerHook((r) => {
      if (r.route === 'none' || r.route === 'paths-info') return undefined
      const n = seen[r.route]++
      const hits = c.mutations.filter((m) => m.route === r.route && (m.nth === -1 || m.nth === n))
      if (hits.length === 0) return undefined
      return mutateAnswer(r, hits, { dead, token: TOKEN })
    })
    try {
      const outcome = await kilnAsync(() =>
        downloadRepo({
          repo: repo.name,
          localDir: c.localDir ? local : undefined,
          maxWorkers: 4,
          hub: { endpoint: server.endpoint, cacheDir: cache, token: c.token ? TOKEN : undefined },
        }),
      )
      if (!outcome.ok) {
        if (!(outcome.error instanceof HubError))
          throw new FuzzFailure(
            `threw ${outcome.error.constructor.name} (${outcome.error.code}), not a HubError: ${outcome.error.message}`,
            'exception',
          )
        if (outcome.error.message.includes(TOKEN) || outcome.error.message.includes(TOKEN.slice(3)))
          throw new FuzzFailure(`the message shows the token: ${outcome.error.message}`, 'answer')
      }
      // The token goes to the Hub only, never to the file server it redirects to.
      const leaked = server.log.slice(logFrom).find((l) => l.server === 'cdn' && l.headers.authorization)
      if (leaked) throw new FuzzFailure(`the token went to the file server: ${leaked.path}`, 'answer')
      // Nothing outside the case's folder, nothing in it but the cache or the local dir.
      const outside = readdirSync(root).filter((n) => !/^case-\d+$/.test(n) && n !== 'home')
      if (outside.length) throw new FuzzFailure(`written outside the case's folder: ${outside}`, 'answer')
      if (existsSync(path.join(root, 'home')))
        throw new FuzzFailure(`written to HF_HOME: ${walk(path.join(root, 'home'))}`, 'answer')
      const inside = readdirSync(dir).filter((n) => n !== 'cache' && n !== 'local')
      if (inside.length) throw new FuzzFailure(`written beside the cache: ${inside}`, 'answer')
      if (c.localDir) {
        checkLocalDir(local)
        // The cache holds nothing but lock folders with a --local-dir.
        for (const rel of walk(cache))
          if (lstatSync(path.join(cache, rel)).isFile())
            throw new FuzzFailure(`a --local-dir download wrote ${rel} in the cache`, 'answer')
      } else checkCache(cache)
      if (outcome.ok) {
        const r = outcome.value
        // Each file the result names is there, with the size it gives.
        for (const f of r.files) {
          const file = path.join(r.path, ...f.path.split('/'))
          if (!existsSync(file))
            throw new FuzzFailure(`the result names ${f.path}, which the download lacks`, 'answer')
          const size = statSync(file).size
          if (size !== f.size)
            throw new FuzzFailure(`the result gives ${f.path} ${f.size} bytes; it has ${size}`, 'answer')
        }
        return 'downloaded'
      }
      return outcome.error.code
    } finally {
      server.setAnswerHook(undefined)
      rmSync(dir, { recursive: true, force: true })
    }
  },
})

it('links a file whose name is 250 bytes long into the snapshot', async () => {
  const cache = path.join(root, 'long-name', 'cache')
  const r = await downloadRepo({
    repo: 'fuzz/long',
    include: ['n*'],
    hub: { endpoint: server.endpoint, cacheDir: cache },
  })
  expect(readFileSync(path.join(r.path, 'n'.repeat(250)), 'utf8')).toBe('a long name')
  checkCache(cache)
})
