// A real HTTP server speaking the Hugging Face Hub protocol, for the download tests and the bench.
// Two ports: the Hub (revision, tree with Link pagination, paths-info, resolve with ETag /
// X-Linked-Etag / X-Linked-Size / X-Repo-Commit, X-Error-Code errors, gated repos, renamed repos) and
// a file server standing in for the CDN (LFS blobs behind a redirect; it rejects requests carrying
// Authorization, as S3 does). Both honour Range and can inject faults: a connection dropped part way,
// a stall, corrupted bytes, and a per-connection rate limit. Bodies are streamed, never held whole.
// For the fuzz target (test/fuzz/hub-api.fuzz.test.ts), an answer hook may rewrite any answer
// (status, headers, body) and how it is delivered (late, cut short, dripped, chunked, over-long);
// with no hook set, every answer is what the other tests see.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import http, { STATUS_CODES } from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export function gitBlobSha1(buf) {
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex')
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex')
}

/** Deterministic pseudo-random bytes (xorshift32), so payloads need no fixtures. */
export function randomBytesSeeded(n, seed = 1) {
  const out = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (x >>> (8 * j)) & 0xff
  }
  return out
}

function lfsPointer(sha, size) {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${size}\n`)
}

/**
 * A file of a repo. `content` (Buffer or string) for small payloads; `{ file, size, sha256 }` for
 * payloads on disk (streamed). `lfs` defaults to true for files over 64 kB and for disk payloads.
 */
function makeEntry(f) {
  if (f.file) {
    const pointer = lfsPointer(f.sha256, f.size)
    return {
      path: f.path,
      size: f.size,
      lfs: true,
      sha256: f.sha256,
      oid: gitBlobSha1(pointer),
      source: { file: f.file },
    }
  }
  const buf = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content)
  const lfs = f.lfs ?? buf.length > 65536
  const sha = sha256(buf)
  return {
    path: f.path,
    size: buf.length,
    lfs,
    sha256: lfs ? sha : undefined,
    oid: lfs ? gitBlobSha1(lfsPointer(sha, buf.length)) : gitBlobSha1(buf),
    source: { buffer: buf },
  }
}

function openSource(source, start, end) {
  if (source.buffer) {
    const buf = source.buffer
    // Slices, so that faults can land inside a body that is not one write.
    const parts = []
    for (let i = start; i <= end; i += 65536) parts.push(buf.subarray(i, Math.min(end + 1, i + 65536)))
    return Readable.from(parts)
  }
  if (end < start) return Readable.from([])
  return createReadStream(source.file, { start, end, highWaterMark: 256 * 1024 })
}

export async function startHubServer(opts = {}) {
  const pageSize = opts.pageSize ?? 2
  const repos = new Map() // "models/org/name" → repo
  const renamed = new Map() // "org/old" → "org/new"
  const blobs = new Map() // sha256 → entry (the CDN's store)
  const faults = [] // { path, kind, after, times }
  const log = []
  const state = { rate: opts.rate ?? 0, requireAuthHeaderFree: true }
  let hub
  let cdn
  /** setAnswerHook's function: undefined for the plain behaviour every other test sees. */
  let answerHook

  /** Sends a whole answer: as is, or through the answer hook when one is set. */
  function reply(res, status, headers, body) {
    if (answerHook && res.hookInfo) return hookedReply(res, status, headers, body).catch(() => res.destroy())
    res.writeHead(status, headers)
    res.end(body)
  }

  async function hookedReply(res, status, headers, body) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '')
    const plain = { status, headers: { ...headers }, body: bytes }
    const answer = (await answerHook({ ...res.hookInfo, ...plain })) ?? plain
    await deliver(res, answer)
  }

  /**
   * Writes an answer straight onto the socket (HTTP/1.1, then the socket is closed), so that it may
   * break what Node's server would refuse to send: header values with any byte, a Content-Length
   * that lies, a chunked body that is malformed, a body cut short, dripped or stalled.
   */
  async function deliver(res, a) {
    const socket = res.socket
    if (!socket) return
    if (a.delayMs) await sleep(a.delayMs)
    if (socket.destroyed) return
    const body = a.body ?? Buffer.alloc(0)
    const lines = [`HTTP/1.1 ${a.status} ${a.statusText ?? STATUS_CODES[a.status] ?? 'Unknown'}`]
    const names = new Set(Object.keys(a.headers).map((n) => n.toLowerCase()))
    for (const [n, v] of Object.entries(a.headers))
      for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined && x !== null) lines.push(`${n}: ${x}`)
    if (a.chunked) lines.push('Transfer-Encoding: chunked')
    else if (!names.has('content-length') && !names.has('transfer-encoding'))
      lines.push(`Content-Length: ${body.length}`)
    lines.push('Connection: close')
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
    const payload = a.chunked
      ? Buffer.concat([
          Buffer.from(`${(a.chunkSize ?? body.length).toString(16)}\r\n`),
          body,
          Buffer.from(body.length ? '\r\n0\r\n\r\n' : '\r\n'),
        ])
      : body
    let data = Buffer.concat([head, payload, a.extra ?? Buffer.alloc(0)])
    if (a.truncateAt !== undefined) data = data.subarray(0, head.length + a.truncateAt)
    const closed = new Promise((r) => socket.once('close', r))
    if (a.dripMs) {
      const step = a.dripBytes ?? 1
      socket.write(head)
      for (let i = head.length; i < data.length && !socket.destroyed; i += step) {
        await sleep(a.dripMs)
        if (!socket.destroyed) socket.write(data.subarray(i, i + step))
      }
    } else socket.write(data)
    // A stall: nothing more, the connection left open until the client gives up (or 10 s pass).
    if (a.stall) await Promise.race([closed, sleep(10_000)])
    socket.end()
    socket.destroySoon?.()
  }

  const key = (type, name) => `${type}s/${name}`

  function addRepo({ name, type = 'model', files, gated, ref = 'main', extraRefs = [] }) {
    const repo = repos.get(key(type, name)) ?? { name, type, gated, commits: new Map(), refs: new Map() }
    if (gated !== undefined) repo.gated = gated
    const entries = files.map(makeEntry)
    const h = createHash('sha1').update(`${type}/${name}\n`)
    for (const e of entries) h.update(`${e.path}\0${e.oid}\n`)
    h.update(String(repo.commits.size))
    const commit = h.digest('hex')
    repo.commits.set(commit, entries)
    repo.refs.set(ref, commit)
    for (const r of extraRefs) repo.refs.set(r, commit)
    for (const e of entries) if (e.lfs) blobs.set(e.sha256, e)
    repos.set(key(type, name), repo)
    return commit
  }

  function resolveRev(repo, rev) {
    if (repo.commits.has(rev)) return rev
    return repo.refs.get(rev)
  }

  function error(res, status, code, message) {
    return reply(
      res,
      status,
      {
        'Content-Type': 'application/json',
        ...(code ? { 'X-Error-Code': code } : {}),
        'X-Error-Message': message,
      },
      JSON.stringify({ error: message }),
    )
  }

  /** The repo the request may see, or an error answer (not found, gated) already sent. */
  function checkRepo(req, res, type, name) {
    // The API answers for a renamed repo under its old name too; `resolve` redirects instead.
    const repo = repos.get(key(type, renamed.get(name) ?? name))
    if (!repo) {
      error(res, 401, 'RepoNotFound', 'Repository not found')
      return undefined
    }
    if (repo.gated) {
      const auth = req.headers.authorization
      if (!auth) {
        error(
          res,
          401,
          'GatedRepo',
          `Access to model ${name} is restricted. You must be authenticated to access it.`,
        )
        return undefined
      }
      if (auth !== `Bearer ${repo.gated}`) {
        error(
          res,
          403,
          'GatedRepo',
          `Access to model ${name} is restricted and you are not in the authorized list.`,
        )
        return undefined
      }
    }
    return repo
  }

  function treeEntry(e) {
    return {
      type: 'file',
      oid: e.oid,
      size: e.size,
      path: e.path,
      ...(e.lfs
        ? { lfs: { oid: e.sha256, size: e.size, pointerSize: lfsPointer(e.sha256, e.size).length } }
        : {}),
    }
  }

  function listing(entries) {
    const dirs = new Set()
    for (const e of entries) {
      const parts = e.path.split('/')
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
    }
    const items = [
      ...[...dirs].map((d) => ({ type: 'directory', oid: gitBlobSha1(Buffer.from(d)), size: 0, path: d })),
      ...entries.map(treeEntry),
    ]
    return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  }

  function parseRange(header, size) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? '')
    if (!m) return undefined
    const start = Number(m[1])
    const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1
    return { start, end }
  }

  /** Sends entry bytes [start, end] applying the faults and the rate limit. */
  async function sendBody(res, entry, start, end) {
    const fault = faults.find(
      (f) => f.path === entry.path && f.times > 0 && f.after >= start && f.after <= end,
    )
    if (fault) fault.times--
    const stream = openSource(entry.source, start, end)
    res.on('close', () => stream.destroy())
    let pos = start
    const t0 = performance.now()
    let sent = 0
    try {
      for await (let chunk of stream) {
        if (res.destroyed) return
        if (fault && pos <= fault.after && fault.after < pos + chunk.length) {
          const cut = fault.after - pos
          if (fault.kind === 'drop') {
            res.write(chunk.subarray(0, cut), () => res.socket?.end())
            return
          }
          if (fault.kind === 'stall') {
            res.write(chunk.subarray(0, cut))
            await new Promise((r) => res.on('close', r))
            return
          }
          if (fault.kind === 'corrupt') {
            chunk = Buffer.from(chunk)
            chunk[cut] ^= 0xff
          }
        }
        pos += chunk.length
        sent += chunk.length
        if (!res.write(chunk))
          await new Promise((r) => {
            const done = () => {
              res.off('drain', done)
              res.off('close', done)
              r()
            }
            res.on('drain', done)
            res.on('close', done)
          })
        if (state.rate > 0) {
          const due = t0 + (sent / state.rate) * 1000
          const wait = due - performance.now()
          if (wait > 1) await sleep(wait)
        }
      }
      res.end()
    } catch {
      res.destroy()
    }
  }

  async function serveEntry(req, res, entry, headers) {
    const range = req.headers.range ? parseRange(req.headers.range, entry.size) : undefined
    if (range && range.start >= entry.size && entry.size > 0)
      return reply(res, 416, { 'Content-Range': `bytes */${entry.size}`, ...headers })
    const start = range?.start ?? 0
    const end = range?.end ?? entry.size - 1
    const answerHeaders = {
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(Math.max(0, end - start + 1)),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${entry.size}` } : {}),
    }
    // The hook sees the whole answer (small payloads only: the fuzz target's).
    if (answerHook && res.hookInfo && entry.source.buffer)
      return hookedReply(
        res,
        range ? 206 : 200,
        answerHeaders,
        req.method === 'HEAD' ? Buffer.alloc(0) : entry.source.buffer.subarray(start, end + 1),
      )
    res.writeHead(range ? 206 : 200, answerHeaders)
    if (req.method === 'HEAD') return res.end()
    await sendBody(res, entry, start, end)
  }

  async function readBody(req) {
    let s = ''
    for await (const c of req) s += c
    return s
  }

  async function onHub(req, res) {
    const url = new URL(req.url, 'http://x')
    log.push({
      server: 'hub',
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers,
    })
    const p = url.pathname
    const hooked = (route) => {
      if (answerHook)
        res.hookInfo = {
          server: 'hub',
          route,
          method: req.method,
          path: p,
          query: url.search,
          hub: hub.url,
          cdn: cdn.url,
        }
    }
    hooked('none')
    let m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(p)
    if (m && req.method === 'GET') {
      hooked('revision')
      const type = m[1].slice(0, -1)
      const repo = checkRepo(req, res, type, m[2])
      if (!repo) return
      const commit = resolveRev(repo, decodeURIComponent(m[3]))
      if (!commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${decodeURIComponent(m[3])}`)
      return reply(
        res,
        200,
        { 'Content-Type': 'application/json' },
        JSON.stringify({
          _id: commit.slice(0, 24),
          id: repo.name,
          sha: commit,
          private: false,
          gated: repo.gated ? 'manual' : false,
          siblings: repo.commits.get(commit).map((e) => ({ rfilename: e.path })),
        }),
      )
    }
    m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/tree\/([^/]+)(\/.*)?$/.exec(p)
    if (m && req.method === 'GET') {
      hooked('tree')
      const type = m[1].slice(0, -1)
      const repo = checkRepo(req, res, type, m[2])
      if (!repo) return
      const commit = resolveRev(repo, decodeURIComponent(m[3]))
      if (!commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${decodeURIComponent(m[3])}`)
      const all = listing(repo.commits.get(commit))
      const cursor = Number(url.searchParams.get('cursor') ?? 0)
      const page = all.slice(cursor, cursor + pageSize)
      const headers = { 'Content-Type': 'application/json' }
      if (cursor + pageSize < all.length) {
        const next = new URL(`${hub.url}${p}`)
        next.searchParams.set('recursive', url.searchParams.get('recursive') ?? 'false')
        next.searchParams.set('cursor', String(cursor + pageSize))
        headers.Link = `<${next.href}>; rel="next"`
      }
      return reply(res, 200, headers, JSON.stringify(page))
    }
    m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/paths-info\/(.+)$/.exec(p)
    if (m && req.method === 'POST') {
      hooked('paths-info')
      const type = m[1].slice(0, -1)
      const body = JSON.parse((await readBody(req)) || '{}')
      const repo = checkRepo(req, res, type, m[2])
      if (!repo) return
      const commit = resolveRev(repo, decodeURIComponent(m[3]))
      if (!commit) return error(res, 404, 'RevisionNotFound', 'Invalid rev id')
      const entries = repo.commits.get(commit).filter((e) => (body.paths ?? []).includes(e.path))
      return reply(
        res,
        200,
        { 'Content-Type': 'application/json' },
        JSON.stringify(
          entries.map((e) => ({
            ...treeEntry(e),
            lastCommit: { id: commit, title: 'c', date: '2024-01-01' },
          })),
        ),
      )
    }
    m = /^\/(?:(datasets)\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p)
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      hooked('resolve')
      const type = m[1] ? 'dataset' : 'model'
      const name = m[2]
      if (renamed.has(name)) {
        // A renamed repo answers with a relative redirect to its new name.
        return reply(res, 307, { Location: p.replace(name, renamed.get(name)) + url.search })
      }
      const repo = checkRepo(req, res, type, name)
      if (!repo) return
      const rev = decodeURIComponent(m[3])
      const commit = resolveRev(repo, rev)
      if (!commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`)
      const file = m[4].split('/').map(decodeURIComponent).join('/')
      const entry = repo.commits.get(commit).find((e) => e.path === file)
      if (!entry) return error(res, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`)
      if (entry.lfs) {
        return reply(res, 302, {
          Location: `${cdn.url}/blobs/${entry.sha256}?sig=${commit.slice(0, 8)}`,
          'X-Linked-Etag': `"${entry.sha256}"`,
          'X-Linked-Size': String(entry.size),
          ETag: `"${entry.oid}"`,
          'X-Repo-Commit': commit,
          'Content-Length': '0',
        })
      }
      return serveEntry(req, res, entry, { ETag: `"${entry.oid}"`, 'X-Repo-Commit': commit })
    }
    error(res, 404, undefined, `no route for ${req.method} ${p}`)
  }

  async function onCdn(req, res) {
    const url = new URL(req.url, 'http://x')
    // Timed, so the bench can tell each file's rate as the server saw it.
    const entryLog = {
      server: 'cdn',
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers,
      start: performance.now(),
    }
    log.push(entryLog)
    res.on('close', () => {
      entryLog.end = performance.now()
    })
    if (answerHook)
      res.hookInfo = {
        server: 'cdn',
        route: 'blob',
        method: req.method,
        path: url.pathname,
        query: url.search,
        hub: hub.url,
        cdn: cdn.url,
      }
    if (req.headers.authorization)
      return reply(
        res,
        400,
        { 'Content-Type': 'text/plain' },
        'Only one auth mechanism allowed; the signed URL already authorizes this request',
      )
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)
    const entry = m && blobs.get(m[1])
    if (!entry) return reply(res, 404, {}, 'NoSuchKey')
    return serveEntry(req, res, entry, { ETag: `"${entry.sha256}"` })
  }

  async function listen(handler) {
    const serve = (req, res) => {
      handler(req, res).catch(() => res.destroy())
    }
    // opts.tls ({ key, cert }): both ports speak HTTPS, as the real Hub and CDN do.
    const server = opts.tls ? https.createServer(opts.tls, serve) : http.createServer(serve)
    server.keepAliveTimeout = 5000
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address()
    return { server, url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}` }
  }

  hub = await listen(onHub)
  cdn = await listen(onCdn)
  return {
    endpoint: hub.url,
    cdnUrl: cdn.url,
    log,
    addRepo,
    rename(from, to) {
      renamed.set(from, to)
    },
    /** `kind`: 'drop' (close the connection), 'stall' (send nothing more) or 'corrupt' (flip a byte). */
    fault(path, kind, after, times = 1) {
      faults.push({ path, kind, after, times })
    },
    clearFaults() {
      faults.length = 0
    },
    setRate(bytesPerSecond) {
      state.rate = bytesPerSecond
    },
    /** Every answer passes through `hook` (undefined: none), which may return another one. */
    setAnswerHook(hook) {
      answerHook = hook
    },
    async close() {
      for (const s of [hub.server, cdn.server]) {
        s.closeAllConnections()
        await new Promise((r) => s.close(r))
      }
    },
  }
}
