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
// Cases mostly wait (on the client's timeouts, on stalled, dripped or late answers), so each
// fast-check run is a batch of BATCH cases run at once, each against its own stand-in (its own two
// ports: the answer hook of that stand-in serves that case alone) in its own folder; a failing batch
// shrinks to the failing case (the others shrink to null, which runs nothing).
import { createHash } from 'node:crypto'
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
} from 'node:fs'
import { rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { downloadRepo } from '../../src/core/hub/download.js'
import { HubError } from '../../src/core/hub/errors.js'
import { type HubServer, randomBytesSeeded, startHubServer } from '../core/hub/hub-server.mjs'
import { type CorpusCodec, caseText, FuzzFailure, fuzzTarget, jsonCodec, kilnAsync } from './harness.js'
import { type Case, caseArbitrary, mutateAnswer, type Route, TOKEN } from './hub-answers.js'
import { checkCache, checkLocalDir, walk } from './hub-checks.js'

// Short timeouts and few retries, so that a stalled or failing answer costs a fraction of a second.
process.env.KILN_HUB_STALL_TIMEOUT_MS = '600'
process.env.KILN_HUB_API_TIMEOUT_MS = '1500'
process.env.KILN_HUB_RETRIES = '1'
process.env.KILN_HUB_RETRY_BASE_MS = '1'

/**
 * Cases run at once in each fast-check run. A batch lasts about as long as its slowest case (a
 * client timeout, 1.5 s, or a drip), so the more cases share that wait the better, up to what the
 * process's one thread serves at once (a case costs ~25 ms of CPU, client and stand-in together).
 * Measured on two loaded cores, folders on disk: 24 → 13 cases/s, 32 → 14, 48 → 19; 48 with the
 * folders in RAM (caseParent) → 22 to 28 (a batch ~1.8 s). One at a time it was 3.5.
 */
const BATCH = 48
/** The bound on one case's time (and on a batch's: its cases run at the same time). */
const CASE_MS = 8_000

/** A batch: null stands for no case (what a case shrinks to first). */
type Batch = (Case | null)[]

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

/**
 * Where the cases' folders go: a RAM file system where there is one. Each download ends with an
 * fsync per file, and on a shared disk a batch's fsyncs queue behind each other (and everyone
 * else's writes) for seconds; what is checked (names, paths, links, contents) is the same on both.
 */
function caseParent(): string {
  try {
    accessSync('/dev/shm', constants.W_OK)
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm'
  } catch {}
  return os.tmpdir()
}

/** One stand-in per place in a batch: a case's requests reach its own stand-in only. */
const servers: HubServer[] = []
let root: string
let dead: string
let caseNo = 0

beforeAll(async () => {
  for (let i = 0; i < BATCH; i++) {
    const server = await startHubServer({ pageSize: 4 })
    for (const r of FUZZ_REPOS) server.addRepo(r)
    server.addRepo({ name: 'fuzz/other', files: [{ path: 'other.txt', content: 'other' }] })
    servers.push(server)
  }
  root = mkdtempSync(path.join(caseParent(), 'kiln-fuzz-hub-'))
  process.env.HF_HOME = path.join(root, 'home')
  // A port nothing listens on: redirects and links to it are refused at once.
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  dead = `http://127.0.0.1:${(s.address() as { port: number }).port}`
  await new Promise((r) => s.close(r))
})

afterAll(async () => {
  for (const server of servers) {
    server.setAnswerHook(undefined)
    await server.close()
  }
  if (root) await rm(root, { recursive: true, force: true })
})

/** One case against `server`, alone on it: how far it got (a HubError's code, or "downloaded"). */
async function runCase(c: Case, server: HubServer): Promise<string> {
  const repo = FUZZ_REPOS[c.repo % FUZZ_REPOS.length]
  const dir = path.join(root, `case-${caseNo++}`)
  const cache = path.join(dir, 'cache')
  const local = path.join(dir, 'local')
  mkdirSync(dir)
  // The stand-in serves this case alone until it ends: its log is this case's requests.
  server.log.length = 0
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
    const leaked = server.log.find((l) => l.server === 'cdn' && l.headers.authorization)
    if (leaked) throw new FuzzFailure(`the token went to the file server: ${leaked.path}`, 'answer')
    // Nothing outside the case's folder (the other cases' folders are beside it), nothing in it but
    // the cache or the local dir.
    const outside = readdirSync(root).filter((n) => !/^case-\d+$/.test(n) && n !== 'home')
    if (outside.length) throw new FuzzFailure(`written outside the case's folder: ${outside}`, 'answer')
    if (existsSync(path.join(root, 'home')))
      throw new FuzzFailure(`written to HF_HOME: ${walk(path.join(root, 'home'))}`, 'answer')
    const inside = readdirSync(dir).filter((n) => n !== 'cache' && n !== 'local')
    if (inside.length) throw new FuzzFailure(`written beside the cache: ${inside}`, 'answer')
    if (c.localDir) {
      checkLocalDir(local, TRUE_CONTENTS)
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
    // Not rmSync: the 17 folders of fuzz/long's deep path would hold up every other case's I/O.
    await rm(dir, { recursive: true, force: true })
  }
}

/** A case under the time bound, measured on its own (the batch's bound is the harness's). */
async function boundedCase(c: Case, server: HubServer): Promise<string> {
  const t0 = performance.now()
  const stage = await runCase(c, server)
  const ms = performance.now() - t0
  if (ms > CASE_MS) throw new FuzzFailure(`took ${ms.toFixed(0)} ms (bound ${CASE_MS} ms)`, 'hang')
  return stage
}

/**
 * The cases of a failing batch that held to the property. Shrinking runs the batch again and again
 * with one case changed (to null first) at a time, the others the same objects: those need not run
 * again, so each try costs the failing case's time, not a whole batch's.
 */
const passed = new WeakSet<Case>()

const present = (b: Batch) => b.filter((c): c is Case => c !== null)

/**
 * Corpus files hold one case (as they did before batches) or a list of cases; a counterexample is
 * saved the same way, its nulls left out.
 */
const caseJson = jsonCodec<Case | Case[]>()
const batchCodec: CorpusCodec<Batch> = {
  ext: '.json',
  decode: (b) => {
    const v = caseJson.decode(b)
    return Array.isArray(v) ? v : [v]
  },
  encode: (batch) => {
    const cases = present(batch)
    return caseJson.encode(cases.length === 1 ? cases[0] : cases)
  },
}

fuzzTarget<Batch>({
  target: 'hub-api',
  // fc.option: a case shrinks to null first, so a failing batch shrinks to the case that fails.
  arbitrary: fc.array(fc.option(caseArbitrary, { nil: null, freq: 1000 }), {
    minLength: BATCH,
    maxLength: BATCH,
  }),
  caseMs: CASE_MS,
  ciMs: 3_000,
  corpus: batchCodec,
  casesIn: (b) => present(b).length,
  describeCase: (b) => caseText(b, 20_000),
  setupMs: 10_000,
  async run(batch) {
    const settled = await Promise.allSettled(
      batch.map((c, i) =>
        c === null || passed.has(c) ? Promise.resolve(undefined) : boundedCase(c, servers[i]),
      ),
    )
    if (settled.some((s) => s.status === 'rejected'))
      for (const [i, s] of settled.entries()) if (batch[i] && s.status === 'fulfilled') passed.add(batch[i])
    // Every case has ended (nothing of a failed one runs on into the next batch); the first failure
    // is the batch's, naming its case.
    for (const [i, s] of settled.entries()) {
      if (s.status === 'fulfilled') continue
      const e = s.reason
      if (!(e instanceof FuzzFailure) || batch.length === 1) throw e
      throw new FuzzFailure(`case ${i} of the batch: ${e.message}`, e.kind)
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' && s.value !== undefined ? [s.value] : []))
  },
})

it('links a file whose name is 250 bytes long into the snapshot', async () => {
  const cache = path.join(root, 'long-name', 'cache')
  const r = await downloadRepo({
    repo: 'fuzz/long',
    include: ['n*'],
    hub: { endpoint: servers[0].endpoint, cacheDir: cache },
  })
  expect(readFileSync(path.join(r.path, 'n'.repeat(250)), 'utf8')).toBe('a long name')
  checkCache(cache)
})
