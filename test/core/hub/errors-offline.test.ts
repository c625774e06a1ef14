// Each failure a user can meet is one clear line and a non-zero exit with nothing half-written:
// unknown repo, revision or file, a gated repo without a (valid) token, the network down. Offline
// mode answers from the cache alone and names what is missing.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
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

let server: HubServer
let closedPort: number

beforeAll(async () => {
  server = await startServer()
  server.addRepo({ name: 'err/tiny', files: tinyRepoFiles(5) })
  server.addRepo({ name: 'err/offline', files: tinyRepoFiles(6) })
  server.addRepo({ name: 'err/gated', files: tinyRepoFiles(7), gated: 'hf_granted' })
  // A port nothing listens on: the "network down" case.
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  closedPort = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

describe.concurrent('errors', () => {
  it('repo not found', async () => {
    const env = freshEnv(server)
    const r = await kiln(['download', 'err/nope'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toBe(
      `kiln: repository err/nope not found on ${server.endpoint} (if it is private or gated, pass --token, set HF_TOKEN, or save one in $HF_HOME/token)`,
    )
    expect(layout(env.cache)).toEqual([])
    const j = jsonOut<{ error: { code: string } }>(await kiln(['download', 'err/nope', '--json'], env))
    expect(j.error.code).toBe('E_REPO_NOT_FOUND')
  })

  it('revision not found', async () => {
    const r = await kiln(['download', 'err/tiny@v9'], freshEnv(server))
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toBe('kiln: revision "v9" not found in err/tiny')
  })

  it('file not found (and remembered in .no_exist, as Python does)', async () => {
    const env = freshEnv(server)
    const r = await kiln(['download', 'err/tiny', 'config.json', 'missing.bin'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toBe('kiln: file not found in err/tiny at main: missing.bin')
    const l = layout(path.join(env.cache, 'models--err--tiny'))
    expect(l.some((x) => /^\.no_exist\/[0-9a-f]{40}\/missing\.bin \(0\)$/.test(x))).toBe(true)
    expect(l.some((x) => x.startsWith('blobs/') && x !== 'blobs/')).toBe(false)
  })

  it('gated repo: says how to give a token; a wrong token is refused; a good one works', async () => {
    const none = await kiln(['download', 'err/gated'], freshEnv(server))
    expect(none.status).toBe(1)
    expect(oneErrorLine(none)).toBe(
      'kiln: err/gated is gated or private: request access on the Hub page, then pass --token, set HF_TOKEN, or save one in $HF_HOME/token',
    )
    const wrong = await kiln(['download', 'err/gated', '--token', 'hf_wrong'], freshEnv(server))
    expect(wrong.status).toBe(1)
    expect(oneErrorLine(wrong)).toMatch(/^kiln: err\/gated is gated or private and your token was refused/)
    const good = await kiln(
      ['download', 'err/gated', '--quiet'],
      freshEnv(server, { HF_TOKEN: 'hf_granted' }),
    )
    expect(good.status, good.stderr).toBe(0)
    // The token file under HF_HOME, as Python's `hf auth login` saves it.
    const env = freshEnv(server)
    writeFileSync(path.join(env.home, 'token'), 'hf_granted\n')
    const file = await kiln(['download', 'err/gated', '--quiet'], env)
    expect(file.status, file.stderr).toBe(0)
  })

  it('network down', async () => {
    const env = freshEnv(server, { HF_ENDPOINT: `http://127.0.0.1:${closedPort}` })
    const r = await kiln(['download', 'err/tiny'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toBe(
      `kiln: cannot reach 127.0.0.1:${closedPort} (ECONNREFUSED); check the network, or use --offline to work from the cache`,
    )
    expect(layout(env.cache)).toEqual([])
  })

  it('bad usage exits 2', async () => {
    const env = freshEnv(server)
    const a = await kiln(['download', 'not a repo'], env)
    expect(a.status).toBe(2)
    expect(oneErrorLine(a)).toMatch(/is not a repo id/)
    const b = await kiln(['download', 'err/tiny', '--max-workers', '0'], env)
    expect(b.status).toBe(2)
  })
})

describe.concurrent('offline', () => {
  it('answers from the cache alone, with no request at all', async () => {
    const env = freshEnv(server)
    const online = await kiln(['download', 'err/offline', '--json'], env)
    expect(online.status, online.stderr).toBe(0)
    const before = server.log.filter((l) => l.path.includes('err/offline')).length
    for (const args of [['--offline'], []]) {
      const offEnv = { ...env, env: { ...env.env, HF_HUB_OFFLINE: args.length ? '' : '1' } }
      const r = await kiln(['download', 'err/offline', '--json', ...args], offEnv)
      expect(r.status, r.stderr).toBe(0)
      const j = jsonOut<{
        path: string
        files: { path: string; downloaded: boolean }[]
        bytes_downloaded: number
      }>(r)
      expect(j.path).toBe(jsonOut<{ path: string }>(online).path)
      expect(j.files.map((f) => f.path)).toEqual(
        tinyRepoFiles(6)
          .map((f) => f.path)
          .sort(),
      )
      expect(j.bytes_downloaded).toBe(0)
    }
    expect(server.log.filter((l) => l.path.includes('err/offline')).length).toBe(before)
    const some = await kiln(['download', 'err/offline', 'config.json', '--offline', '--quiet'], env)
    expect(some.status).toBe(0)
  })

  it('names what is missing and exits non-zero', async () => {
    const env = freshEnv(server)
    await fetchInProcess(server, env, { repo: 'err/offline', files: ['config.json'] })
    const r = await kiln(['download', 'err/offline', 'config.json', 'model.safetensors', '--offline'], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toBe(
      'kiln: offline: file missing from the cache for err/offline@main: model.safetensors',
    )
    const none = await kiln(['download', 'err/other', '--offline'], env)
    expect(none.status).toBe(1)
    expect(oneErrorLine(none)).toBe(`kiln: offline: err/other@main is not in the cache (${env.cache})`)
    const rev = await kiln(['download', 'err/offline@v2', '--offline'], env)
    expect(oneErrorLine(rev)).toMatch(/^kiln: offline: err\/offline@v2 is not in the cache/)
  })

  it('offline with --local-dir checks the folder', async () => {
    const env = freshEnv(server)
    const dir = path.join(env.home, 'local')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'config.json'), '{}')
    const ok = await kiln(
      ['download', 'err/offline', 'config.json', '--local-dir', dir, '--offline', '--quiet'],
      env,
    )
    expect(ok.status, ok.stderr).toBe(0)
    expect(ok.stdout).toBe(`${dir}\n`)
    const missing = await kiln(['download', 'err/offline', 'README.md', '--local-dir', dir, '--offline'], env)
    expect(oneErrorLine(missing)).toMatch(
      /^kiln: offline: file missing from .*local for err\/offline@main: README\.md$/,
    )
  })
})
