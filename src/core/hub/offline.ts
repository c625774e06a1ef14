// HF_HUB_OFFLINE / --offline: a download answered from the cache (or the --local-dir) alone. A
// revision is found through refs/, files through the snapshot's symlinks; anything missing is named.
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { repoCachePaths } from './cache-paths.js'
import type { HubConfig } from './config.js'
import type { DownloadedFile, DownloadRequest, DownloadResult } from './download.js'
import { HubError } from './errors.js'
import { makePathFilter } from './glob-filter.js'
import { COMMIT_RE, type RepoRef } from './repo-id.js'

/** Every file under `dir` (following symlinks; broken ones are left out), as repo paths. */
export async function walkFiles(dir: string, prefix = ''): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = []
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return out
  }
  for (const e of entries) {
    const full = path.join(dir, e.name)
    const rel = prefix ? `${prefix}/${e.name}` : e.name
    if (e.isDirectory()) {
      if (!prefix && e.name === '.cache') continue // --local-dir bookkeeping
      out.push(...(await walkFiles(full, rel)))
    } else {
      try {
        const st = await stat(full)
        if (st.isFile()) out.push({ path: rel, size: st.size })
      } catch {}
    }
  }
  return out
}

export async function answerFromCache(
  repo: RepoRef,
  revision: string,
  cfg: HubConfig,
  req: DownloadRequest,
): Promise<DownloadResult> {
  const label = `${repo.name}@${revision}`
  let root: string
  let commit = ''
  if (req.localDir) {
    root = path.resolve(req.localDir)
  } else {
    const paths = repoCachePaths(cfg.cacheDir, repo)
    if (COMMIT_RE.test(revision)) commit = revision
    else {
      try {
        commit = (await readFile(paths.ref(revision), 'utf8')).trim()
      } catch {
        throw new HubError('E_OFFLINE', `offline: ${label} is not in the cache (${cfg.cacheDir})`)
      }
    }
    root = paths.snapshot(commit)
    try {
      await stat(root)
    } catch {
      throw new HubError(
        'E_OFFLINE',
        `offline: ${label} (commit ${commit}) is not in the cache (${cfg.cacheDir})`,
      )
    }
  }
  const present = await walkFiles(root)
  const byPath = new Map(present.map((f) => [f.path, f]))
  let chosen = present
  if (req.files?.length) {
    const missing = req.files.filter((f) => !byPath.has(f))
    if (missing.length)
      throw new HubError(
        'E_OFFLINE',
        `offline: ${missing.length === 1 ? 'file' : 'files'} missing from ${req.localDir ? root : 'the cache'} for ${label}: ${missing.join(', ')}`,
      )
    chosen = req.files.map((f) => byPath.get(f)!)
  }
  const keep = makePathFilter(req.include, req.exclude)
  chosen = chosen.filter((f) => keep(f.path) && (!req.select || req.select(f.path)))
  const files: DownloadedFile[] = chosen
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => ({ path: f.path, size: f.size, downloaded: false }))
  return { path: root, commit, revision, files, bytesDownloaded: 0, dryRun: !!req.dryRun, offline: true }
}
