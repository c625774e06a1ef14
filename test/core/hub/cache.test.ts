// kiln cache ls / rm / verify over a cache kiln filled, and the cache shared with @huggingface/hub
// (the JS twin of Python's huggingface_hub): each tool reuses what the other fetched, same layout.
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { snapshotDownload } from '@huggingface/hub'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jsonOut, removeTempDirs } from '../../helpers/cli.js'
import {
  fetchInProcess,
  freshEnv,
  type HubServer,
  kiln,
  layout,
  oneErrorLine,
  startServer,
  tinyRepoFiles,
} from './helpers.js'
import { sha256 } from './hub-server.mjs'

let server: HubServer
let main: string
let v1: string

beforeAll(async () => {
  server = await startServer()
  v1 = server.addRepo({ name: 'cache/a', files: tinyRepoFiles(11), ref: 'v1' })
  main = server.addRepo({
    name: 'cache/a',
    files: [...tinyRepoFiles(11).slice(0, 3), ...tinyRepoFiles(12).slice(3)],
  })
  server.addRepo({ name: 'cache/b', files: tinyRepoFiles(13) })
  server.addRepo({ name: 'cache/shared', files: tinyRepoFiles(14) })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

interface LsJson {
  repos: {
    repo: string
    type: string
    size: number
    revisions: { commit: string; refs: string[]; files: number }[]
  }[]
}

async function quietly<T>(f: () => Promise<T>): Promise<T> {
  // snapshotDownload logs each file with console.debug.
  const debug = console.debug
  console.debug = () => {}
  try {
    return await f()
  } finally {
    console.debug = debug
  }
}

describe.concurrent('kiln cache', () => {
  it('ls lists repos, revisions and sizes; rm removes a revision, then a repo', async () => {
    const env = freshEnv(server)
    await fetchInProcess(server, env, { repo: 'cache/a' })
    await fetchInProcess(server, env, { repo: 'cache/a@v1' })
    await fetchInProcess(server, env, { repo: 'cache/b' })
    const ls = jsonOut<LsJson>(await kiln(['cache', 'ls', '--json'], env))
    expect(ls.repos.map((r) => r.repo)).toEqual(['cache/a', 'cache/b'])
    const a = ls.repos[0]
    expect(a.revisions.map((r) => [r.commit, r.refs]).sort()).toEqual(
      [
        [main, ['main']],
        [v1, ['v1']],
      ].sort(),
    )
    // v1 and main share three small files: their blobs are stored once.
    const uniqueBytes =
      3_000_000 * 2 +
      200_000 * 2 +
      tinyRepoFiles(11)
        .slice(0, 3)
        .reduce((n, f) => n + Buffer.byteLength(f.content as string), 0)
    expect(a.size).toBe(uniqueBytes)
    const text = await kiln(['cache', 'ls'], env)
    expect(text.stdout).toMatch(/^cache\/a\s+model\s+6\.\d MB\s+.*main=[0-9a-f]{12} \(5 files\)/m)

    const rm = await kiln(['cache', 'rm', 'cache/a@v1', '--json'], env)
    expect(jsonOut<{ commits: string[]; bytes_freed: number }>(rm)).toEqual({
      repo: 'cache/a',
      commits: [v1],
      bytes_freed: 3_200_000,
    })
    const root = path.join(env.cache, 'models--cache--a')
    expect(existsSync(path.join(root, 'snapshots', v1))).toBe(false)
    expect(existsSync(path.join(root, 'refs', 'v1'))).toBe(false)
    // main still has every file it links to.
    for (const f of tinyRepoFiles(12).slice(3))
      expect(readFileSync(path.join(root, 'snapshots', main, f.path)).equals(f.content as Buffer)).toBe(true)
    expect(readFileSync(path.join(root, 'snapshots', main, 'config.json'), 'utf8')).toBe(
      tinyRepoFiles(11)[0].content,
    )

    expect((await kiln(['cache', 'rm', 'cache/a'], env)).status).toBe(0)
    expect(existsSync(root)).toBe(false)
    const gone = await kiln(['cache', 'rm', 'cache/a'], env)
    expect(gone.status).toBe(1)
    expect(oneErrorLine(gone)).toBe(`kiln: cache/a is not in the cache (${env.cache})`)
  })

  it('verify re-hashes blobs and reports the ones that differ', async () => {
    const env = freshEnv(server)
    await fetchInProcess(server, env, { repo: 'cache/b' })
    const ok = await kiln(['cache', 'verify', 'cache/b', '--json'], env)
    expect(ok.status, ok.stderr).toBe(0)
    const okJson = jsonOut<{ ok: boolean; repos: { blobs_checked: number }[] }>(ok)
    expect(okJson.ok).toBe(true)
    expect(okJson.repos[0].blobs_checked).toBe(5)
    // Damage one blob behind kiln's back.
    const blob = path.join(
      env.cache,
      'models--cache--b',
      'blobs',
      sha256(tinyRepoFiles(13)[3].content as Buffer),
    )
    appendFileSync(blob, 'x')
    const bad = await kiln(['cache', 'verify'], env)
    expect(bad.status).toBe(1)
    expect(bad.stdout).toMatch(/^cache\/b: 5 blobs, .* checked, 1 bad$/m)
    expect(bad.stdout).toMatch(
      new RegExp(
        `MISMATCH ${path.basename(blob)} \\(content hashes to [0-9a-f]{64}\\) ← [0-9a-f]{40}/model\\.safetensors`,
      ),
    )
    expect(oneErrorLine(bad)).toMatch(/1 bad blob/)
    const j = await kiln(['cache', 'verify', '--json'], env)
    expect(j.status).toBe(1)
    expect(jsonOut<{ ok: boolean }>(j).ok).toBe(false)
    const missing = await kiln(['cache', 'verify', 'cache/zzz'], env)
    expect(missing.status).toBe(1)
  })

  it('shares the cache with @huggingface/hub both ways, byte for byte', async () => {
    // kiln first, then the library: it finds everything and fetches nothing.
    const env = freshEnv(server)
    expect((await kiln(['download', 'cache/shared', '--quiet'], env)).status).toBe(0)
    // Only this repo's fetches: the other tests of this file run at the same time on the same server.
    const shas = tinyRepoFiles(14).map((f) =>
      createHash('sha256')
        .update(f.content ?? '')
        .digest('hex'),
    )
    const fetches = () =>
      server.log.filter((l) =>
        l.server === 'cdn' ? shas.some((h) => l.path.includes(h)) : l.path.includes('cache/shared/resolve/'),
      ).length
    const before = fetches()
    const snap = await quietly(() =>
      snapshotDownload({ repo: 'cache/shared', cacheDir: env.cache, hubUrl: server.endpoint }),
    )
    expect(fetches()).toBe(before)
    for (const f of tinyRepoFiles(14))
      expect(readFileSync(path.join(snap, f.path)).equals(Buffer.from(f.content as string | Buffer))).toBe(
        true,
      )

    // The library first, then kiln: nothing to fetch, and the same layout either way.
    const env2 = freshEnv(server)
    await quietly(() =>
      snapshotDownload({ repo: 'cache/shared', cacheDir: env2.cache, hubUrl: server.endpoint }),
    )
    const r = await kiln(['download', 'cache/shared', '--json'], env2)
    expect(r.status, r.stderr).toBe(0)
    expect(jsonOut<{ bytes_downloaded: number }>(r).bytes_downloaded).toBe(0)
    const clean = (l: string[]) => l.filter((x) => !x.startsWith('.locks'))
    expect(clean(layout(env2.cache))).toEqual(clean(layout(env.cache)))
  })
})
