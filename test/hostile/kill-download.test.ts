// `kiln download` killed with SIGKILL at random moments, against the Hub stand-in slowed to a few MB/s
// so the kills land in the transfer: every blob in the cache is complete and right or absent, a
// partial `.incomplete` file holds a prefix of the right bytes, refs/main is the commit or absent, a
// snapshot entry always resolves to a complete blob; the next run resumes the partial file with
// Range and ends with the right bytes, its locks gone.
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshEnv, type HubServer } from '../core/hub/helpers.js'
import { gitBlobSha1, randomBytesSeeded, sha256, startHubServer } from '../core/hub/hub-server.mjs'
import { removeTempDirs } from '../helpers/cli.js'
import { KILLS, killAt, rng, run, SEED, timeoutFor } from './helpers.js'

const FILES = [
  { path: 'config.json', content: Buffer.from('{"model_type":"tiny","hostile":true}') },
  { path: 'model.safetensors', content: randomBytesSeeded(2_500_000, 17) },
  { path: 'sub/extra.bin', content: randomBytesSeeded(300_000, 18) },
]
const etagOf = (b: Buffer) => (b.length > 65536 ? sha256(b) : gitBlobSha1(b))

/** The size of a file that may be renamed away at any moment (0 when it is not there). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

let server: HubServer
let commit: string

beforeAll(async () => {
  // Per connection: the big blob takes about a second, so a kill often lands part way.
  server = await startHubServer({ pageSize: 2, rate: 2_500_000 })
  commit = server.addRepo({ name: 'hostile/killed', files: FILES })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

/** Checks the cache holds nothing wrong; returns the partial bytes of each blob now on disk. */
function checkCache(cache: string, label: string): Map<string, number> {
  const root = path.join(cache, 'models--hostile--killed')
  const partial = new Map<string, number>()
  const blobs = path.join(root, 'blobs')
  const byEtag = new Map(FILES.map((f) => [etagOf(f.content), f]))
  for (const name of existsSync(blobs) ? readdirSync(blobs) : []) {
    const [etag, suffix] = name.split('.')
    const f = byEtag.get(etag)
    expect(f, `${label}: unexpected ${name} in blobs/`).toBeDefined()
    const bytes = readFileSync(path.join(blobs, name))
    if (suffix === undefined) {
      expect(bytes.equals(f!.content), `${label}: blob ${f!.path} is not the complete file`).toBe(true)
    } else {
      expect(suffix, `${label}: ${name}`).toBe('incomplete')
      expect(bytes.length).toBeLessThanOrEqual(f!.content.length)
      expect(bytes.equals(f!.content.subarray(0, bytes.length)), `${label}: ${name} is not a prefix`).toBe(
        true,
      )
      partial.set(f!.path, bytes.length)
    }
  }
  const ref = path.join(root, 'refs', 'main')
  if (existsSync(ref)) expect(readFileSync(ref, 'utf8'), `${label}: refs/main`).toBe(commit)
  const snap = path.join(root, 'snapshots', commit)
  for (const f of FILES) {
    const pointer = path.join(snap, f.path)
    let isLink = false
    try {
      isLink = lstatSync(pointer).isSymbolicLink()
    } catch {
      continue // not linked yet
    }
    expect(isLink, `${label}: ${f.path} is not a link`).toBe(true)
    // A snapshot entry appears only once its blob is complete.
    expect(readFileSync(pointer).equals(f.content), `${label}: ${f.path} through the snapshot`).toBe(true)
  }
  return partial
}

describe('kiln download under SIGKILL', () => {
  it(
    `leaves complete blobs or resumable partial ones (${KILLS} kills, seed ${SEED})`,
    async () => {
      const random = rng(SEED + 1)
      const ref = freshEnv(server)
      const first = await run(['download', 'hostile/killed', '--quiet'], ref.env)
      expect(first.status, first.stderr).toBe(0)
      checkCache(ref.cache, 'unkilled run')
      const runMs = first.ms

      const env = freshEnv(server, { KILN_HUB_STALL_TIMEOUT_MS: '60000' })
      const root = path.join(env.cache, 'models--hostile--killed')
      const big = sha256(FILES[1].content)
      let resumed = 0
      let partialKills = 0
      for (let i = 0; i < KILLS; i++) {
        const before = checkCache(env.cache, `before run ${i}`)
        const logFrom = server.log.length
        // Half the kills at a random time, half once the big blob's partial file has passed a
        // random size (the moment a timed kill often misses on a loaded machine).
        const partialFile = path.join(root, 'blobs', `${big}.incomplete`)
        const at = Math.floor(random() * FILES[1].content.length)
        const r = await killAt(
          ['download', 'hostile/killed', '--quiet'],
          env.env,
          i % 2 === 0
            ? { afterMs: Math.floor(runMs * (0.2 + 0.9 * random())) }
            : {
                when: () => sizeOf(partialFile) > at,
                fallbackMs: runMs * 3,
              },
        )
        if (!r.killed) expect(r.status, r.stderr).toBe(0)
        const after = checkCache(env.cache, `after kill ${i} (${r.killed ? 'killed' : 'finished'})`)
        if (after.has('model.safetensors')) partialKills++
        // A run that found a partial blob asked for the rest only.
        const have = before.get('model.safetensors')
        if (have !== undefined && have > 0) {
          const asked = server.log
            .slice(logFrom)
            .filter((l) => l.server === 'cdn' && l.path === `/blobs/${big}`)
            .map((l) => l.headers.range)
          if (asked.length > 0) {
            expect(asked[0]).toBe(`bytes=${have}-`)
            resumed++
          }
        }
        // Start over once a run completed the big blob, so the later kills land in transfers too.
        if (existsSync(path.join(root, 'blobs', big))) rmSync(root, { recursive: true, force: true })
      }
      console.log(
        `download: ${KILLS} kills, ${partialKills} left a partial blob, ${resumed} runs resumed one with Range`,
      )

      // The next run recovers: it resumes what is there and ends with every file right.
      const partial = checkCache(env.cache, 'before the last run').get('model.safetensors')
      const logFrom = server.log.length
      const last = await run(['download', 'hostile/killed', '--json'], env.env)
      expect(last.status, last.stderr).toBe(0)
      expect(JSON.parse(last.stdout).path).toBe(path.join(root, 'snapshots', commit))
      if (partial !== undefined && partial > 0) {
        const asked = server.log
          .slice(logFrom)
          .filter((l) => l.server === 'cdn' && l.path === `/blobs/${big}`)
        // A partial file that already holds every byte (killed between the last write and the
        // rename) is checked against its hash and renamed: nothing is asked for.
        const size = FILES[1].content.length
        expect(asked.map((l) => l.headers.range)).toEqual(partial < size ? [`bytes=${partial}-`] : [])
      }
      checkCache(env.cache, 'after the last run')
      for (const f of FILES) {
        expect(readFileSync(path.join(root, 'snapshots', commit, f.path)).equals(f.content)).toBe(true)
        expect(statSync(path.join(root, 'blobs', etagOf(f.content))).size).toBe(f.content.length)
      }
      expect(readdirSync(path.join(root, 'blobs')).filter((n) => n.endsWith('.incomplete'))).toEqual([])
      // The killed runs' locks were taken over and released.
      const locks = path.join(env.cache, '.locks', 'models--hostile--killed')
      expect((existsSync(locks) ? readdirSync(locks) : []).filter((n) => n.endsWith('.lock'))).toEqual([])
      // Nor the temporary names of the killed runs' locks (the next run removes them).
      expect(existsSync(locks) ? readdirSync(locks) : []).toEqual([])
      // Litter a kill can leave that no run removes (a snapshot link's temporary name, in the
      // microseconds between symlink and rename): harmless, reported rather than failed.
      const litter = readdirSync(path.join(root, 'snapshots', commit)).filter(
        (n) => !FILES.some((f) => f.path.split('/')[0] === n),
      )
      if (litter.length > 0) console.log(`download: left by killed runs: ${litter.join(', ')}`)
    },
    timeoutFor(KILLS + 2),
  )

  it(
    'resumes a partial blob left by a kill in the middle of its transfer',
    async () => {
      // A deterministic case beside the random ones: killed once the partial file passed 1 MB.
      const env = freshEnv(server, { KILN_HUB_STALL_TIMEOUT_MS: '60000' })
      const root = path.join(env.cache, 'models--hostile--killed')
      const big = sha256(FILES[1].content)
      const partial = path.join(root, 'blobs', `${big}.incomplete`)
      const size = () => sizeOf(partial)
      const r = await killAt(['download', 'hostile/killed', '--quiet'], env.env, {
        when: () => size() >= 1_000_000,
        fallbackMs: 30_000,
      })
      expect(r.killed).toBe(true)
      const have = checkCache(env.cache, 'after the kill').get('model.safetensors')!
      expect(have).toBeGreaterThanOrEqual(1_000_000)
      expect(have).toBeLessThan(FILES[1].content.length)
      expect(existsSync(path.join(root, 'snapshots', commit, 'model.safetensors'))).toBe(false)
      const logFrom = server.log.length
      const again = await run(['download', 'hostile/killed', '--quiet'], env.env)
      expect(again.status, again.stderr).toBe(0)
      const asked = server.log.slice(logFrom).filter((l) => l.server === 'cdn' && l.path === `/blobs/${big}`)
      expect(asked.map((l) => l.headers.range)).toEqual([`bytes=${have}-`])
      expect(
        readFileSync(path.join(root, 'snapshots', commit, 'model.safetensors')).equals(FILES[1].content),
      ).toBe(true)
      expect(existsSync(partial)).toBe(false)
    },
    timeoutFor(2),
  )
})
