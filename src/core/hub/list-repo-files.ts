// Step 2: every file of a commit, through @huggingface/hub's listFiles (which follows the tree API's
// `Link: rel="next"` pages), reduced to what a download needs. The listing decides file names under
// the snapshot and the sizes and names of blobs, so each entry is checked before it is used, and the
// pages must stay on the listing asked for and end.
import { listFiles } from '@huggingface/hub'
import { KilnError } from '../errors.js'
import { HubError } from './errors.js'
import { type ErrorContext, maskSecrets } from './hub-errors-map.js'
import { API_TIMEOUT_MS, hubFetch } from './hub-fetch.js'
import type { RepoRef } from './repo-id.js'

export interface RepoFile {
  path: string
  size: number
  /** The blob's name in the cache: the LFS sha256, else the git blob sha1. */
  etag: string
  lfs: boolean
}

/** The longest file name (one path segment) file systems take, in bytes. */
const MAX_NAME_BYTES = 255
/** Entries (files and folders) a listing may hold: past this it is not a repo but a runaway. */
const MAX_ENTRIES = 1_000_000

const ETAG_RE = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/

const short = (s: string) => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s)

export function listRepoFiles(
  repo: RepoRef,
  commit: string,
  endpoint: string,
  token: string | undefined,
  timeoutMs: number = API_TIMEOUT_MS,
): Promise<RepoFile[]> {
  // Messages quote the listing's paths and links: a server may have put the token in them.
  return listChecked(repo, commit, endpoint, token, timeoutMs).catch((e) =>
    Promise.reject(maskSecrets(e, token)),
  )
}

async function listChecked(
  repo: RepoRef,
  commit: string,
  endpoint: string,
  token: string | undefined,
  timeoutMs: number,
): Promise<RepoFile[]> {
  const ctx: ErrorContext = { repo, endpoint, revision: commit, tokenGiven: !!token }
  const what = `the file list of ${repo.name} at ${commit.slice(0, 12)}`
  const bad = (why: string) => new HubError('E_HUB', `${endpoint} sent ${what} with ${why}`)
  const fetchPage = hubFetch(ctx, token, timeoutMs)
  // Pages: each `next` link must be another page of the same listing (not another repo's, not one
  // already read: a loop would never end), and a page that brings nothing must not link on.
  let first: URL | undefined
  const pages = new Set<string>()
  let sincePage = 0
  const guardedFetch: typeof fetch = (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    if (!first) first = url
    else {
      if (url.pathname !== first.pathname)
        throw bad(`a next-page link that leads elsewhere: ${short(url.href)}`)
      if (pages.has(url.href)) throw bad(`next-page links in a loop: ${short(url.href)}`)
      if (sincePage === 0) throw bad('an empty page that links to another')
    }
    pages.add(url.href)
    sincePage = 0
    return fetchPage(input, init)
  }

  const files: RepoFile[] = []
  const byPath = new Set<string>()
  let entries = 0
  try {
    for await (const item of listFiles({
      repo: { type: repo.type, name: repo.name },
      revision: commit,
      recursive: true,
      hubUrl: endpoint,
      fetch: guardedFetch,
    })) {
      sincePage++
      if (++entries > MAX_ENTRIES) throw bad(`more than ${MAX_ENTRIES} entries`)
      const e = item as unknown as Record<string, unknown> | null
      if (e === null || typeof e !== 'object' || Array.isArray(e)) throw bad('an entry that is not an object')
      if (e.type !== 'file') continue
      const file = checkEntry(e, bad)
      if (byPath.has(file.path)) throw bad(`the file ${short(file.path)} twice`)
      byPath.add(file.path)
      files.push(file)
    }
  } catch (e) {
    if (e instanceof KilnError) throw e
    // The library read an answer that is not the JSON array of entries it expects.
    throw bad('an answer that is not a list of entries')
  }
  // A path that is a file and also a folder of another file cannot both be made under the snapshot.
  for (const f of files) {
    const parts = f.path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/')
      if (byPath.has(folder))
        throw bad(`${short(folder)} both as a file and as the folder of ${short(f.path)}`)
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return files
}

/** One file entry, checked: a path that stays in the snapshot, a blob name, a size. */
function checkEntry(e: Record<string, unknown>, bad: (why: string) => HubError): RepoFile {
  const p = e.path
  if (typeof p !== 'string') throw bad('a file entry without a path')
  // Paths become file names under the snapshot: nothing may climb out of it. Empty and `.`
  // segments (`/abs`, `a//b`, `.`) would name the folder itself or another spelling of a file, and
  // a NUL no file name can hold.
  if (p.includes('\0') || p.split(/[/\\]/).some((part) => part === '' || part === '.' || part === '..'))
    throw bad(`an unsafe file path: ${short(p)}`)
  // A lone surrogate (JSON's "\ud800") is no character: no file name or URL can spell it.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(p))
    throw bad(`a file path that is not valid Unicode: ${short(p)}`)
  if (p.split('/').some((part) => Buffer.byteLength(part) > MAX_NAME_BYTES))
    throw bad(`a file name over ${MAX_NAME_BYTES} bytes: ${short(p)}`)
  const lfs = e.lfs
  if (lfs !== undefined && lfs !== null && (typeof lfs !== 'object' || Array.isArray(lfs)))
    throw bad(`malformed LFS details for ${short(p)}`)
  const l = lfs as Record<string, unknown> | null | undefined
  const etag = l ? l.oid : e.oid
  const size = l ? l.size : e.size
  if (typeof etag !== 'string' || !ETAG_RE.test(etag)) throw bad(`a malformed blob id for ${short(p)}`)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw bad(`an impossible size for ${short(p)}: ${short(String(size))}`)
  return { path: p, size, etag, lfs: !!l }
}
