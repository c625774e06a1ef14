// Transfers that go wrong: a connection dropped half way, a stall, corrupted bytes, a server that
// keeps failing, a process killed part way, and two processes fetching the same repo at once.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, jsonOut, ROOT, removeTempDirs } from '../../helpers/cli.js'
import { freshEnv, type HubServer, kiln, kilnProcess, layout, oneErrorLine, startServer } from './helpers.js'
import { randomBytesSeeded, sha256 } from './hub-server.mjs'

let server: HubServer
const SIZE = 4_000_000
const payload = (seed: number) => randomBytesSeeded(SIZE, seed)
const repos: Record<string, { commit: string; blob: Buffer }> = {}

beforeAll(async () => {
  server = await startServer()
  for (const [i, name] of [
    'drop',
    'stall',
    'corrupt',
    'flaky',
    'killed',
    'shared',
    'full',
    'whole',
  ].entries()) {
    const blob = payload(100 + i)
    const commit = server.addRepo({
      name: `faults/${name}`,
      files: [
        { path: 'config.json', content: `{"name":"${name}"}` },
        { path: `${name}.safetensors`, content: blob },
      ],
    })
    repos[name] = { commit, blob }
  }
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

const blobPath = (cache: string, name: string) =>
  path.join(cache, `models--faults--${name}`, 'blobs', sha256(repos[name].blob))

const rangesFor = (name: string) =>
  server.log
    .filter((l) => l.server === 'cdn' && l.path === `/blobs/${sha256(repos[name].blob)}`)
    .map((l) => (l.headers.range as string | undefined) ?? 'full')

describe.concurrent('faults', () => {
  it('resumes a dropped connection with Range', async () => {
    server.fault('drop.safetensors', 'drop', 1_500_000)
    const env = freshEnv(server)
    const r = await kiln(['download', 'faults/drop', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(blobPath(env.cache, 'drop')).equals(repos.drop.blob)).toBe(true)
    expect(rangesFor('drop')).toEqual(['full', 'bytes=1500000-'])
    expect(r.stderr).toMatch(/drop\.safetensors: connection lost .*; retry 1/)
  })

  it('times out a stalled transfer and resumes it instead of hanging', async () => {
    server.fault('stall.safetensors', 'stall', 2_000_000)
    const env = freshEnv(server, { KILN_HUB_STALL_TIMEOUT_MS: '700' })
    const t0 = Date.now()
    const r = await kiln(['download', 'faults/stall', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(Date.now() - t0).toBeLessThan(15_000)
    expect(readFileSync(blobPath(env.cache, 'stall')).equals(repos.stall.blob)).toBe(true)
    expect(rangesFor('stall')).toEqual(['full', 'bytes=2000000-'])
    expect(r.stderr).toMatch(/stalled/)
  })

  it('deletes a blob whose sha256 does not match and fails clearly', async () => {
    server.fault('corrupt.safetensors', 'corrupt', 123_456, 100)
    const env = freshEnv(server)
    const r = await kiln(['download', 'faults/corrupt'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toMatch(
      new RegExp(
        `corrupt\\.safetensors: sha256 of the downloaded bytes is [0-9a-f]{64}, expected ${sha256(repos.corrupt.blob)}`,
      ),
    )
    const root = path.join(env.cache, 'models--faults--corrupt')
    expect(existsSync(blobPath(env.cache, 'corrupt'))).toBe(false)
    expect(layout(root).filter((l) => l.includes('incomplete'))).toEqual([])
    expect(layout(path.join(root, 'snapshots')).filter((l) => l.includes('corrupt.safetensors'))).toEqual([])
    const j = await kiln(['download', 'faults/corrupt', '--json'], env)
    expect(jsonOut<{ error: { code: string } }>(j).error.code).toBe('E_INTEGRITY')
  })

  it('gives up after a bounded number of failed attempts, keeping the partial file for later', async () => {
    server.fault('flaky.safetensors', 'drop', 1_000_000)
    server.fault('flaky.safetensors', 'drop', 1_000_000, 50) // fails at the same spot from then on
    const env = freshEnv(server, { KILN_HUB_RETRIES: '2' })
    const r = await kiln(['download', 'faults/flaky'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toMatch(
      /flaky\.safetensors: download failed after \d+ attempts .*run again to resume from 1000000 of 4000000 bytes/,
    )
    // Once stuck at 1 MB: the attempt that got there, then exactly KILN_HUB_RETRIES more.
    expect(rangesFor('flaky').filter((r) => r === 'bytes=1000000-')).toHaveLength(2)
    const root = path.join(env.cache, 'models--faults--flaky')
    expect(statSync(path.join(root, 'blobs', `${sha256(repos.flaky.blob)}.incomplete`)).size).toBe(1_000_000)
    expect(layout(path.join(root, 'snapshots')).filter((l) => l.includes('flaky.safetensors'))).toEqual([])
  })

  it('a process killed part way leaves a partial blob the next run resumes', async () => {
    server.fault('killed.safetensors', 'stall', 2_500_000)
    const env = freshEnv(server, { KILN_HUB_STALL_TIMEOUT_MS: '60000' })
    const child = spawn(process.execPath, [BIN, 'download', 'faults/killed', '--quiet'], {
      cwd: ROOT,
      env: { ...process.env, ...env.env },
      stdio: 'ignore',
    })
    const partial = `${blobPath(env.cache, 'killed')}.incomplete`
    const deadline = Date.now() + 20_000
    while (!(existsSync(partial) && statSync(partial).size >= 2_500_000) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    child.kill('SIGKILL')
    await new Promise((r) => child.on('close', r))
    expect(statSync(partial).size).toBe(2_500_000)
    // The dead process's lock is still there; the next run takes it over.
    const lockDir = path.join(env.cache, '.locks', 'models--faults--killed')
    expect(readdirSync(lockDir).some((f) => f.endsWith('.lock'))).toBe(true)
    const snap = path.join(env.cache, 'models--faults--killed', 'snapshots', repos.killed.commit)
    expect(existsSync(path.join(snap, 'killed.safetensors'))).toBe(false)
    const r = await kiln(['download', 'faults/killed', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(blobPath(env.cache, 'killed')).equals(repos.killed.blob)).toBe(true)
    expect(rangesFor('killed')).toEqual(['full', 'bytes=2500000-'])
    expect(r.stderr).toMatch(/resuming at 2\.5 MB/)
    expect(existsSync(partial)).toBe(false)
    expect(existsSync(path.join(lockDir, `${sha256(repos.killed.blob)}.lock`))).toBe(false)
  })

  it('a partial blob that already holds every byte is checked and kept, not fetched again', async () => {
    // A kill between the last write and the rename leaves this state.
    const env = freshEnv(server)
    const partial = `${blobPath(env.cache, 'whole')}.incomplete`
    mkdirSync(path.dirname(partial), { recursive: true })
    writeFileSync(partial, repos.whole.blob)
    const r = await kiln(['download', 'faults/whole', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(rangesFor('whole')).toEqual([])
    expect(readFileSync(blobPath(env.cache, 'whole')).equals(repos.whole.blob)).toBe(true)
    expect(existsSync(partial)).toBe(false)
  })

  it('two processes fetching the same repo at once share the work without corrupting it', async () => {
    const env = freshEnv(server)
    // Slow enough that the runs overlap.
    server.fault('shared.safetensors', 'stall', 3_000_000) // the first holder stalls…
    const stallEnv = { ...env, env: { ...env.env, KILN_HUB_STALL_TIMEOUT_MS: '3000' } } // …and resumes
    const [a, b] = await Promise.all([
      kilnProcess(['download', 'faults/shared', '--json'], stallEnv),
      kilnProcess(['download', 'faults/shared', '--json'], stallEnv),
    ])
    expect(a.status, a.stderr).toBe(0)
    expect(b.status, b.stderr).toBe(0)
    expect(jsonOut<{ path: string }>(a).path).toBe(jsonOut<{ path: string }>(b).path)
    expect(readFileSync(blobPath(env.cache, 'shared')).equals(repos.shared.blob)).toBe(true)
    // One full fetch (plus its resume): the second process waited for the lock, then found the blob.
    expect(rangesFor('shared')).toEqual(['full', 'bytes=3000000-'])
    expect(`${a.stderr}${b.stderr}`).toMatch(/waiting for another process/)
  })

  it('reports a full disk in one line', async () => {
    const env = freshEnv(server)
    const { symlinkSync } = await import('node:fs')
    const blobs = path.join(env.cache, 'models--faults--full', 'blobs')
    mkdirSync(blobs, { recursive: true })
    // Writes to /dev/full fail with ENOSPC: a real disk-full error from the kernel.
    symlinkSync('/dev/full', `${blobPath(env.cache, 'full')}.incomplete`)
    const r = await kiln(['download', 'faults/full'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toMatch(/^kiln: disk full while writing .*: free some space and run again$/)
    expect(existsSync(blobPath(env.cache, 'full'))).toBe(false)
    const snap = path.join(env.cache, 'models--faults--full', 'snapshots', repos.full.commit)
    expect(existsSync(path.join(snap, 'full.safetensors'))).toBe(false)
  })
})
