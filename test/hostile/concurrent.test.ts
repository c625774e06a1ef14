// Two kiln processes writing the same thing at once: two downloads of one repo into one cache, two
// `kiln config set` of one key (and of two keys). One correct result, nothing corrupt, nothing lost.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshEnv, type HubServer } from '../core/hub/helpers.js'
import { gitBlobSha1, randomBytesSeeded, sha256, startHubServer } from '../core/hub/hub-server.mjs'
import { removeTempDirs } from '../helpers/cli.js'
import { sandbox } from '../helpers/settings-sandbox.js'
import { run, timeoutFor } from './helpers.js'

const FILES = [
  { path: 'config.json', content: Buffer.from('{"model_type":"tiny","shared":true}') },
  { path: 'model.safetensors', content: randomBytesSeeded(2_000_000, 41) },
  { path: 'a/b.bin', content: randomBytesSeeded(400_000, 42) },
  { path: 'tokenizer.json', content: Buffer.from(JSON.stringify({ version: '1.0' })) },
]
const etagOf = (b: Buffer) => (b.length > 65536 ? sha256(b) : gitBlobSha1(b))

let server: HubServer
let commit: string

beforeAll(async () => {
  // Slow enough (per connection) that the two runs overlap for about a second.
  server = await startHubServer({ pageSize: 2, rate: 2_000_000 })
  commit = server.addRepo({ name: 'hostile/shared', files: FILES })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

describe.concurrent('two processes at once', () => {
  it(
    'two kiln download of one repo into one cache: both succeed, each blob fetched once',
    async () => {
      const env = freshEnv(server)
      const logFrom = server.log.length
      const [a, b] = await Promise.all([
        run(['download', 'hostile/shared', '--json'], env.env),
        run(['download', 'hostile/shared', '--json'], env.env),
      ])
      expect(a.status, a.stderr).toBe(0)
      expect(b.status, b.stderr).toBe(0)
      const root = path.join(env.cache, 'models--hostile--shared')
      const snap = path.join(root, 'snapshots', commit)
      expect(JSON.parse(a.stdout).path).toBe(snap)
      expect(JSON.parse(b.stdout).path).toBe(snap)
      for (const f of FILES) {
        expect(readFileSync(path.join(snap, f.path)).equals(f.content), f.path).toBe(true)
        expect(statSync(path.join(root, 'blobs', etagOf(f.content))).size).toBe(f.content.length)
      }
      expect(readFileSync(path.join(root, 'refs', 'main'), 'utf8')).toBe(commit)
      // Nothing partial or temporary anywhere, no lock left.
      const all = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? all(path.join(dir, e.name)) : [path.join(dir, e.name)],
        )
      expect(all(env.cache).filter((p) => /\.(incomplete|lock)$|\.tmp-|\.stale\./.test(p))).toEqual([])
      // The LFS blobs came over the wire once in all: the second process waited for the first's lock.
      const lfs = FILES.filter((f) => f.content.length > 65536)
      for (const f of lfs) {
        const gets = server.log
          .slice(logFrom)
          .filter((l) => l.server === 'cdn' && l.path === `/blobs/${sha256(f.content)}`)
        expect(gets, f.path).toHaveLength(1)
      }
    },
    timeoutFor(2),
  )

  it(
    'two kiln config set of one key: the file is one of the two results, whole',
    async () => {
      const box = sandbox()
      const initial = 'version: 1\n# mine\nhub:\n  token: hf_concurrentTokenSecret0001\n'
      // The two possible results, from unkilled runs one at a time.
      const refs = new Map<string, Buffer>()
      for (const v of ['0.1', '0.9']) {
        box.write(initial)
        const r = await run(['config', 'set', 'generate.temperature', v], box.env)
        expect(r.status, r.stderr).toBe(0)
        refs.set(v, readFileSync(box.file))
      }
      for (let round = 0; round < 2; round++) {
        box.write(initial)
        const [a, b] = await Promise.all([
          run(['config', 'set', 'generate.temperature', '0.1'], box.env),
          run(['config', 'set', 'generate.temperature', '0.9'], box.env),
        ])
        expect(a.status, a.stderr).toBe(0)
        expect(b.status, b.stderr).toBe(0)
        const now = readFileSync(box.file)
        expect(
          [...refs.values()].some((r) => r.equals(now)),
          `round ${round}: ${now.toString()}`,
        ).toBe(true)
        expect(statSync(box.file).mode & 0o777).toBe(0o600)
        expect(existsSync(`${box.file}.lock`)).toBe(false)
      }
    },
    timeoutFor(6),
  )

  it(
    'two kiln config set of two keys: neither write is lost, also past a lock a killed run left',
    async () => {
      const box = sandbox()
      // The pid of a process that has exited: the holder of a lock left by a killed kiln.
      const dead = spawnSync(process.execPath, ['-e', '']).pid
      for (let round = 0; round < 2; round++) {
        box.write('version: 1\n')
        if (round > 0) writeFileSync(`${box.file}.lock`, `${dead}\n`)
        const [a, b] = await Promise.all([
          run(['config', 'set', 'generate.top_k', String(10 + round)], box.env),
          run(['config', 'set', 'generate.top_p', '0.5'], box.env),
        ])
        expect(a.status, a.stderr).toBe(0)
        expect(b.status, b.stderr).toBe(0)
        const text = readFileSync(box.file, 'utf8')
        expect(text, `round ${round}`).toMatch(new RegExp(`top_k: ${10 + round}\\b`))
        expect(text, `round ${round}`).toMatch(/top_p: 0\.5\b/)
        const get = await run(['config', 'get', 'generate.top_k'], box.env)
        expect(get.stdout.trim()).toBe(String(10 + round))
        expect(readdirSync(path.dirname(box.file)).filter((f) => f.includes('.lock'))).toEqual([])
      }
    },
    timeoutFor(6),
  )
})
