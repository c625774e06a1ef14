// `kiln download` as a library call: resolve the revision, list the files (all pages), filter them,
// fetch what the cache lacks with a bounded pool of workers (one lock per blob), then link the
// snapshot. The cache ends up exactly as Python's huggingface_hub would have left it.
import { access, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { option, UsageError } from '../errors.js'
import { acquireBlobLock } from './blob-lock.js'
import { repoCachePaths } from './cache-paths.js'
import { type HubOptions, resolveHubConfig } from './config.js'
import { checkFreeSpace } from './disk-space.js'
import { HubError } from './errors.js'
import type { DownloadListener, PlannedFile } from './events.js'
import { fetchBlob } from './fetch-blob.js'
import { makePathFilter } from './glob-filter.js'
import type { ErrorContext } from './hub-errors-map.js'
import { listRepoFiles, type RepoFile } from './list-repo-files.js'
import { ensureLocalGitignore, localDirPaths, readLocalEtag, writeLocalMetadata } from './local-dir.js'
import { answerFromCache } from './offline.js'
import { COMMIT_RE, parseRepoId, type RepoRef, type RepoType } from './repo-id.js'
import { resolveRevision } from './resolve-revision.js'
import { linkSnapshotFile, markNoExist, writeRef } from './snapshot-link.js'
import { runPool } from './worker-pool.js'

export interface DownloadRequest {
  /** `org/name` or `org/name@revision`. */
  repo: string
  /** Only these paths (each must exist). */
  files?: string[]
  revision?: string
  repoType?: RepoType
  include?: string[]
  exclude?: string[]
  /** Real files in this folder instead of the cache. */
  localDir?: string
  maxWorkers?: number
  /** Fetch again even what the cache already holds. */
  force?: boolean
  dryRun?: boolean
  hub?: HubOptions
  /** An extra filter on repo paths (model-arg uses it to take only what a model needs). */
  select?: (path: string) => boolean
}

export interface DownloadedFile {
  path: string
  size: number
  /** True when fetched by this run (with dryRun: when it would be). */
  downloaded: boolean
}

export interface DownloadResult {
  /** The snapshot folder (or the --local-dir). */
  path: string
  commit: string
  revision: string
  files: DownloadedFile[]
  bytesDownloaded: number
  dryRun: boolean
  offline: boolean
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  )

function resolveUrl(endpoint: string, repo: RepoRef, commit: string, file: string): string {
  const prefix = repo.type === 'model' ? '' : `${repo.type}s/`
  const p = file.split('/').map(encodeURIComponent).join('/')
  return `${endpoint}/${prefix}${repo.name}/resolve/${commit}/${p}`
}

/**
 * A repo path this file system cannot hold (too long, with the folder it goes in and, for a
 * --local-dir, the `.<etag>.incomplete` beside it) as one line naming the file; other errors as they are.
 */
function pathRefused(e: unknown, file: string, root: string): unknown {
  if ((e as NodeJS.ErrnoException)?.code !== 'ENAMETOOLONG') return e
  const name = file.length > 100 ? `${file.slice(0, 100)}…` : file
  return new HubError('E_HUB', `the repo's file "${name}" has a path too long to be made under ${root}`)
}

export async function downloadRepo(
  req: DownloadRequest,
  onEvent: DownloadListener = () => {},
): Promise<DownloadResult> {
  const t0 = performance.now()
  const cfg = resolveHubConfig(req.hub)
  const repo = parseRepoId(req.repo, req.repoType)
  if (req.revision && repo.revision && req.revision !== repo.revision)
    throw new UsageError(
      `revision given twice: "@${repo.revision}" and ${option('revision')} ${req.revision}`,
    )
  const revision = req.revision ?? repo.revision ?? 'main'
  // The revision names a file under refs/ (as parseRepoId checks for "@rev"): `revision` must not
  // climb out of it either.
  if (revision === '' || revision.split(/[/\\]/).includes('..'))
    throw new UsageError(`${option('revision')} ${JSON.stringify(revision)} is not a valid revision`)
  const workers = req.maxWorkers ?? 8
  if (!Number.isInteger(workers) || workers < 1)
    throw new UsageError(`${option('maxWorkers')} must be at least 1`)
  if (cfg.offline) return answerFromCache(repo, revision, cfg, req)
  // A token no HTTP header can carry fails in Node's request code as an internal error with a stack
  // trace: say which setting to fix instead, without showing the token.
  if (cfg.token !== undefined && /[^\t\x20-\x7e\x80-\xff]/.test(cfg.token))
    throw new HubError(
      'E_AUTH',
      `the Hub token holds characters an HTTP header cannot carry: check ${option('token')}, HF_TOKEN, hub.token or $HF_HOME/token`,
    )

  const commit = COMMIT_RE.test(revision)
    ? revision
    : await resolveRevision(repo, revision, cfg.endpoint, cfg.token, cfg.apiTimeoutMs)
  const listed = await listRepoFiles(repo, commit, cfg.endpoint, cfg.token, cfg.apiTimeoutMs)
  const cache = repoCachePaths(cfg.cacheDir, repo)

  let chosen: RepoFile[] = listed
  if (req.files?.length) {
    const byPath = new Map(listed.map((f) => [f.path, f]))
    const missing = req.files.filter((f) => !byPath.has(f))
    if (missing.length) {
      // Remembered as Python does, so an offline lookup knows these are absent, not merely unfetched.
      if (!req.dryRun && !req.localDir)
        await Promise.all(missing.map((f) => markNoExist(cache.noExist(commit, f)).catch(() => {})))
      const rev = revision === commit ? commit.slice(0, 12) : revision
      throw new HubError(
        'E_ENTRY_NOT_FOUND',
        `${missing.length === 1 ? 'file' : 'files'} not found in ${repo.name} at ${rev}: ${missing.join(', ')}`,
      )
    }
    chosen = [...new Set(req.files)].map((f) => byPath.get(f)!)
  }
  const keep = makePathFilter(req.include, req.exclude)
  chosen = chosen.filter((f) => keep(f.path) && (!req.select || req.select(f.path)))

  const localDir = req.localDir ? path.resolve(req.localDir) : undefined
  const planned: (PlannedFile & { file: RepoFile })[] = []
  for (const f of chosen) {
    const have = localDir
      ? (await readLocalEtag(localDirPaths(localDir, f.path))) === f.etag
      : await exists(cache.blob(f.etag))
    planned.push({ path: f.path, size: f.size, fetch: !!req.force || !have, file: f })
  }
  const toFetch = planned.filter((p) => p.fetch)
  const fetchBytes = toFetch.reduce((n, p) => n + p.size, 0)
  onEvent({
    type: 'plan',
    repo: repo.name,
    commit,
    files: planned.map(({ path, size, fetch }) => ({ path, size, fetch })),
    totalBytes: planned.reduce((n, p) => n + p.size, 0),
    fetchBytes,
  })
  const root = localDir ?? cache.snapshot(commit)
  const result = (bytesDownloaded: number, dryRun: boolean): DownloadResult => ({
    path: root,
    commit,
    revision,
    files: planned.map((p) => ({ path: p.path, size: p.size, downloaded: p.fetch })),
    bytesDownloaded,
    dryRun,
    offline: false,
  })
  if (req.dryRun) return result(fetchBytes, true)

  await checkFreeSpace(localDir ?? cfg.cacheDir, fetchBytes)
  if (localDir) await ensureLocalGitignore(localDir)
  else {
    if (revision !== commit) await writeRef(cache.ref(revision), commit)
    await mkdir(root, { recursive: true })
  }

  let bytesDownloaded = 0
  // Two paths with the same content share one blob: fetch it once.
  const inFlight = new Map<string, Promise<boolean>>()
  const fetchOne = async (p: PlannedFile & { file: RepoFile }): Promise<boolean> => {
    const f = p.file
    const ctx: ErrorContext = {
      repo,
      endpoint: cfg.endpoint,
      revision,
      file: f.path,
      tokenGiven: !!cfg.token,
    }
    const target = localDir ? localDirPaths(localDir, f.path) : undefined
    const finalPath = target ? target.file : cache.blob(f.etag)
    const lockPath = target ? target.lock : cache.lock(f.etag)
    const release = await acquireBlobLock(lockPath, () => onEvent({ type: 'file-wait', path: f.path }))
    try {
      // Another process may have finished it while this one waited for the lock.
      const done = target ? (await readLocalEtag(target)) === f.etag : await exists(finalPath)
      if (done && !req.force) return false
      const incomplete = target ? target.incomplete(f.etag) : cache.incomplete(f.etag)
      if (req.force) await rm(incomplete, { force: true })
      if (target) await mkdir(path.dirname(target.file), { recursive: true })
      const { fetched } = await fetchBlob(
        {
          url: resolveUrl(cfg.endpoint, repo, commit, f.path),
          token: cfg.token,
          etag: f.etag,
          size: f.size,
          file: f.path,
          incompletePath: incomplete,
          finalPath,
          ctx,
        },
        {
          stallTimeoutMs: cfg.stallTimeoutMs,
          retries: cfg.retries,
          retryBaseMs: cfg.retryBaseMs,
          onStart: (resumedFrom) => onEvent({ type: 'file-start', path: f.path, size: f.size, resumedFrom }),
          onProgress: (have) => onEvent({ type: 'file-progress', path: f.path, size: f.size, have }),
          onRetry: (attempt, reason, delayMs) =>
            onEvent({ type: 'file-retry', path: f.path, attempt, reason, delayMs }),
        },
      )
      bytesDownloaded += fetched
      if (target) await writeLocalMetadata(target, commit, f.etag)
      return true
    } finally {
      await release()
    }
  }
  const cached = planned.filter((p) => !p.fetch)
  const largestFirst = [...toFetch].sort((a, b) => b.size - a.size)
  await runPool(largestFirst, workers, async (p) => {
    try {
      const key = localDir ? p.path : p.file.etag
      let job = inFlight.get(key)
      if (!job) {
        job = fetchOne(p)
        inFlight.set(key, job)
      }
      // Another process may have fetched it while this one waited for the lock.
      if (!(await job)) p.fetch = false
      if (!localDir) await linkSnapshotFile(cache.blob(p.file.etag), cache.pointer(commit, p.path))
    } catch (e) {
      throw pathRefused(e, p.path, root)
    }
    onEvent({ type: 'file-done', path: p.path, size: p.size, downloaded: p.fetch })
  })
  for (const p of cached) {
    try {
      if (!localDir) await linkSnapshotFile(cache.blob(p.file.etag), cache.pointer(commit, p.path))
    } catch (e) {
      throw pathRefused(e, p.path, root)
    }
    onEvent({ type: 'file-done', path: p.path, size: p.size, downloaded: false })
  }
  onEvent({ type: 'done', bytesDownloaded, seconds: (performance.now() - t0) / 1000 })
  return result(bytesDownloaded, false)
}
