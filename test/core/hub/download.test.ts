// kiln download against a real Hub-protocol server: the cache as Python lays it out, pagination,
// revisions, filters, dry runs, repo types, redirects and the token staying off the file server.
import { spawn } from 'node:child_process'
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, jsonOut, ROOT, removeTempDirs } from '../../helpers/cli.js'
import {
  fetchInProcess,
  freshEnv,
  type HubServer,
  kiln,
  layout,
  startServer,
  tinyRepoFiles,
} from './helpers.js'
import { gitBlobSha1, sha256, startHubServer } from './hub-server.mjs'

interface DownloadJson {
  path: string
  commit: string
  files: { path: string; size: number; downloaded: boolean }[]
  bytes_downloaded: number
  dry_run?: boolean
}

let server: HubServer
let commit: string
let v1: string
let tokenCommit: string
const files = tinyRepoFiles(1)

beforeAll(async () => {
  server = await startServer()
  v1 = server.addRepo({ name: 'org/tiny', files: tinyRepoFiles(2), ref: 'v1' })
  commit = server.addRepo({ name: 'org/tiny', files })
  server.addRepo({ name: 'org/tiny-cached', files })
  tokenCommit = server.addRepo({ name: 'org/tiny-token', files })
  server.addRepo({
    name: 'org/data',
    type: 'dataset',
    files: [{ path: 'train.jsonl', content: '{"t":1}\n' }],
  })
  server.addRepo({ name: 'org/new-name', files: [{ path: 'config.json', content: '{"renamed":true}' }] })
  server.rename('org/old-name', 'org/new-name')
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

function expectBlob(cache: string, repoFolder: string, spec: { path: string; content?: Buffer | string }) {
  const buf = Buffer.isBuffer(spec.content) ? spec.content : Buffer.from(spec.content ?? '')
  const lfs = buf.length > 65536
  const etag = lfs ? sha256(buf) : gitBlobSha1(buf)
  const blob = path.join(cache, repoFolder, 'blobs', etag)
  expect(readFileSync(blob).equals(buf)).toBe(true)
  return etag
}

describe.concurrent('kiln download', () => {
  it('fills the cache exactly as huggingface_hub lays it out', async () => {
    const env = freshEnv(server)
    const r = await kiln(['download', 'org/tiny', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    const out = jsonOut<DownloadJson>(r)
    const root = path.join(env.cache, 'models--org--tiny')
    expect(out.commit).toBe(commit)
    expect(out.path).toBe(path.join(root, 'snapshots', commit))
    expect(out.files.map((f) => f.path)).toEqual(files.map((f) => f.path).sort())
    expect(out.files.every((f) => f.downloaded)).toBe(true)
    expect(out.bytes_downloaded).toBe(
      files.reduce((n, f) => n + Buffer.byteLength(f.content as string | Buffer), 0),
    )
    // refs/main holds the bare commit, no newline.
    expect(readFileSync(path.join(root, 'refs', 'main'), 'utf8')).toBe(commit)
    for (const f of files) {
      const etag = expectBlob(env.cache, 'models--org--tiny', f)
      const pointer = path.join(out.path, f.path)
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true)
      const depth = f.path.split('/').length - 1
      expect(readlinkSync(pointer)).toBe(`${'../'.repeat(depth + 2)}blobs/${etag}`)
      expect(realpathSync(pointer)).toBe(realpathSync(path.join(root, 'blobs', etag)))
    }
    // Nothing partial left anywhere.
    expect(layout(root).filter((l) => l.includes('.incomplete') || l.includes('.tmp-'))).toEqual([])
    // Every tree page was read.
    const pages = server.log.filter((l) => l.path === `/api/models/org/tiny/tree/${commit}`)
    expect(pages.some((l) => l.query.includes('cursor=4'))).toBe(true)
  })

  it('fetches nothing the cache already holds', async () => {
    const env = freshEnv(server)
    expect((await kiln(['download', 'org/tiny-cached', '--quiet'], env)).status).toBe(0)
    const before = server.log.length
    const r = await kiln(['download', 'org/tiny-cached', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    const out = jsonOut<DownloadJson>(r)
    expect(out.bytes_downloaded).toBe(0)
    expect(out.files.every((f) => !f.downloaded)).toBe(true)
    const mine = server.log.slice(before).filter((l) => l.path.includes('/resolve/') || l.server === 'cdn')
    expect(mine.filter((l) => l.path.startsWith('/org/tiny-cached/'))).toEqual([])
  })

  it('--quiet prints only the snapshot path; without a TTY a line per finished file goes to stderr', async () => {
    const env = freshEnv(server)
    const q = await kiln(['download', 'org/tiny', '--quiet'], env)
    expect(q.status).toBe(0)
    expect(q.stdout).toBe(`${path.join(env.cache, 'models--org--tiny', 'snapshots', commit)}\n`)
    expect(q.stderr).toBe('')
    const env2 = freshEnv(server)
    const r = await kiln(['download', 'org/tiny'], env2)
    expect(r.status).toBe(0)
    for (const f of files) expect(r.stderr).toMatch(new RegExp(`^${f.path} `, 'm'))
  })

  it('on a terminal, draws one cli-progress multibar: a bar per file and a total with speed and ETA', async () => {
    // Its own server at 4 MB/s per connection, so the bars are on screen for several frames (on
    // loopback a file can finish before the first one).
    const slow = await startHubServer({ rate: 4_000_000 })
    slow.addRepo({ name: 'org/tiny-tty', files })
    const env = freshEnv(slow, { CI: '', COLUMNS: '160' })
    // `script` runs kiln on a real pseudo-terminal.
    const out = await new Promise<string>((resolve) => {
      const child = spawn(
        'script',
        ['-qec', `${process.execPath} ${BIN} download org/tiny-tty`, '/dev/null'],
        {
          cwd: ROOT,
          env: { ...process.env, ...env.env },
        },
      )
      let text = ''
      child.stdout.on('data', (d) => {
        text += d
      })
      child.on('close', () => resolve(text))
    })
    await slow.close()
    expect(out).toMatch(/total\s+\|[█░]+\| .* \/ 3\.\d MB\s+[\d.]+ \S?B\/s\s+ETA/)
    expect(out).toMatch(/model\.safetensors\s+\|[█░]+\|/)
    expect(out).toContain(path.join(env.cache, 'models--org--tiny-tty', 'snapshots'))
  })

  it('takes a revision by @rev, --revision, or commit, and writes refs/<rev>', async () => {
    const env = freshEnv(server)
    const a = jsonOut<DownloadJson>(await kiln(['download', 'org/tiny@v1', '--json'], env))
    expect(a.commit).toBe(v1)
    expect(readFileSync(path.join(env.cache, 'models--org--tiny', 'refs', 'v1'), 'utf8')).toBe(v1)
    const b = await fetchInProcess(server, env, { repo: 'org/tiny', revision: 'v1' })
    expect(b.commit).toBe(v1)
    expect(b.bytesDownloaded).toBe(0)
    const env2 = freshEnv(server)
    const c = await fetchInProcess(server, env2, { repo: `org/tiny@${commit}` })
    expect(c.commit).toBe(commit)
    // A commit is its own name: no ref is written for it.
    expect(existsSync(path.join(env2.cache, 'models--org--tiny', 'refs'))).toBe(false)
    const clash = await kiln(['download', 'org/tiny@v1', '--revision', 'main'], env2)
    expect(clash.status).toBe(2)
  })

  it('filters with FILES, --include and --exclude (fnmatch globs, as Python)', async () => {
    const env = freshEnv(server)
    const a = jsonOut<DownloadJson>(
      await kiln(
        ['download', 'org/tiny', 'config.json', 'sub/dir/extra.bin', '--include', '*.bin', '--json'],
        env,
      ),
    )
    expect(a.files.map((f) => f.path)).toEqual(['sub/dir/extra.bin'])
    const paths = async (include?: string[], exclude?: string[], files?: string[]) =>
      (
        await fetchInProcess(server, freshEnv(server), {
          repo: 'org/tiny',
          include,
          exclude,
          files,
          dryRun: true,
        })
      ).files.map((f) => f.path)
    expect(await paths(undefined, undefined, ['config.json', 'sub/dir/extra.bin'])).toEqual([
      'config.json',
      'sub/dir/extra.bin',
    ])
    expect(await paths(['*.json'], ['tok*'])).toEqual(['config.json'])
    expect(await paths(['sub/'])).toEqual(['sub/dir/extra.bin'])
    expect(await paths(['*.bin'])).toEqual(['sub/dir/extra.bin'])
    expect(await paths(undefined, ['*.json', '*.md'])).toEqual(['model.safetensors', 'sub/dir/extra.bin'])
  })

  it('--dry-run lists sizes and what would be fetched, and writes nothing', async () => {
    const env = freshEnv(server)
    await fetchInProcess(server, env, { repo: 'org/tiny', files: ['config.json'] })
    const before = layout(env.cache)
    const r = await kiln(['download', 'org/tiny', '--dry-run'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^config\.json\s+\d+ B\s+cached$/m)
    expect(r.stdout).toMatch(/^model\.safetensors\s+3\.0 MB\s+fetch$/m)
    expect(r.stdout).toMatch(/4 of 5 files to fetch/)
    const j = await fetchInProcess(server, env, { repo: 'org/tiny', dryRun: true })
    expect(j.dryRun).toBe(true)
    expect(j.files.find((f) => f.path === 'config.json')?.downloaded).toBe(false)
    expect(j.files.find((f) => f.path === 'model.safetensors')).toEqual({
      path: 'model.safetensors',
      size: 3_000_000,
      downloaded: true,
    })
    expect(layout(env.cache)).toEqual(before)
  })

  it('--force fetches again what is cached', async () => {
    const env = freshEnv(server)
    await fetchInProcess(server, env, { repo: 'org/tiny', files: ['README.md'] })
    const j = jsonOut<DownloadJson>(
      await kiln(['download', 'org/tiny', 'README.md', '--force', '--json'], env),
    )
    expect(j.files[0].downloaded).toBe(true)
    expect(j.bytes_downloaded).toBeGreaterThan(0)
  })

  it('downloads datasets into datasets--org--name', async () => {
    const env = freshEnv(server)
    const j = jsonOut<DownloadJson>(
      await kiln(['download', 'org/data', '--repo-type', 'dataset', '--json'], env),
    )
    expect(j.path.startsWith(path.join(env.cache, 'datasets--org--data', 'snapshots'))).toBe(true)
    expect(readFileSync(path.join(j.path, 'train.jsonl'), 'utf8')).toBe('{"t":1}\n')
  })

  it('follows a renamed repo (relative redirect)', async () => {
    const env = freshEnv(server)
    const r = await kiln(['download', 'org/old-name', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(path.join(jsonOut<DownloadJson>(r).path, 'config.json'), 'utf8')).toBe(
      '{"renamed":true}',
    )
  })

  it('sends the token to the Hub but never to the file server it redirects to', async () => {
    const env = freshEnv(server, { HF_TOKEN: 'hf_visible_to_hub_only' })
    const before = server.log.length
    const r = await kiln(['download', 'org/tiny-token', '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    const log = server.log.slice(before)
    const hubGets = log.filter((l) => l.server === 'hub' && l.path.includes('/org/tiny-token/'))
    const cdnGets = log.filter((l) => l.server === 'cdn' && l.query.includes(tokenCommit.slice(0, 8)))
    expect(hubGets.length).toBeGreaterThan(0)
    expect(hubGets.every((l) => l.headers.authorization === 'Bearer hf_visible_to_hub_only')).toBe(true)
    expect(cdnGets.length).toBeGreaterThan(0)
    expect(cdnGets.every((l) => l.headers.authorization === undefined)).toBe(true)
  })

  it('--local-dir writes real files with Python-style metadata, and skips them next time', async () => {
    const env = freshEnv(server)
    const dir = path.join(env.home, 'local')
    const r = await kiln(['download', 'org/tiny', '--local-dir', dir, '--json'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(jsonOut<DownloadJson>(r).path).toBe(dir)
    for (const f of files) {
      const p = path.join(dir, f.path)
      expect(lstatSync(p).isFile()).toBe(true)
      expect(readFileSync(p).equals(Buffer.from(f.content as string | Buffer))).toBe(true)
    }
    const meta = readFileSync(
      path.join(dir, '.cache/huggingface/download/model.safetensors.metadata'),
      'utf8',
    )
    const [c, etag, ts] = meta.split('\n')
    expect(c).toBe(commit)
    expect(etag).toBe(sha256(files[3].content as Buffer))
    expect(Number(ts)).toBeGreaterThan(1e9)
    expect(readFileSync(path.join(dir, '.cache/huggingface/.gitignore'), 'utf8')).toBe('*')
    expect(existsSync(env.cache)).toBe(false)
    const again = jsonOut<DownloadJson>(
      await kiln(['download', 'org/tiny', '--local-dir', dir, '--json'], env),
    )
    expect(again.bytes_downloaded).toBe(0)
  })
})
