// What `kiln cache ls|rm|verify` do between parsing flags and printing: each returns its report
// (what --json prints) and says how it reads as text.

import { removeFromCache } from '../core/hub/cache-rm.js'
import type { CachedRepo } from '../core/hub/cache-scan.js'
import { scanCache } from '../core/hub/cache-scan.js'
import { type BlobProblem, verifyCache } from '../core/hub/cache-verify.js'
import { type HubOptions, resolveHubConfig } from '../core/hub/config.js'
import { HubError } from '../core/hub/errors.js'
import { parseRepoId, type RepoType, repoFolderName } from '../core/hub/repo-id.js'
import { formatBytes } from './progress/download-progress.js'
import type { Rendering } from './render.js'

export interface CacheLsReport {
  cache_dir: string
  repos: {
    repo: string
    type: CachedRepo['type']
    size: number
    incomplete_bytes: number
    revisions: { commit: string; refs: string[]; files: number; size: number }[]
  }[]
}

export async function runCacheLs(hub: HubOptions): Promise<CacheLsReport> {
  const cacheDir = resolveHubConfig(hub).cacheDir
  const repos = await scanCache(cacheDir)
  return {
    cache_dir: cacheDir,
    repos: repos.map((r) => ({
      repo: r.name,
      type: r.type,
      size: r.size,
      incomplete_bytes: r.incomplete,
      revisions: r.revisions.map((v) => ({ commit: v.commit, refs: v.refs, files: v.files, size: v.size })),
    })),
  }
}

export const cacheLsRendering: Rendering<CacheLsReport> = {
  text({ cache_dir, repos }, { quiet }) {
    if (repos.length === 0) return { err: quiet ? undefined : `the cache is empty (${cache_dir})\n` }
    if (quiet)
      return { out: repos.map((r) => `${r.type === 'model' ? '' : `${r.type}s/`}${r.repo}\n`).join('') }
    const w = Math.max(4, ...repos.map((r) => r.repo.length))
    let out = `${'REPO'.padEnd(w)}  TYPE     ${'SIZE'.padStart(10)}  REVISIONS\n`
    let total = 0
    for (const r of repos) {
      total += r.size + r.incomplete_bytes
      const revs = r.revisions
        .map(
          (v) => `${v.refs.length ? `${v.refs.join(',')}=` : ''}${v.commit.slice(0, 12)} (${v.files} files)`,
        )
        .join('  ')
      const partial = r.incomplete_bytes ? `  [+${formatBytes(r.incomplete_bytes)} partial]` : ''
      out += `${r.repo.padEnd(w)}  ${r.type.padEnd(7)}  ${formatBytes(r.size).padStart(10)}  ${revs || '-'}${partial}\n`
    }
    return { out: `${out}${repos.length} repos, ${formatBytes(total)} in ${cache_dir}\n` }
  },
}

export interface CacheRmReport {
  repo: string
  commits: string[]
  bytes_freed: number
}

export async function runCacheRm(hub: HubOptions, repo: string, repoType: RepoType): Promise<CacheRmReport> {
  const cacheDir = resolveHubConfig(hub).cacheDir
  const r = await removeFromCache(cacheDir, parseRepoId(repo, repoType))
  return { repo: r.repo, commits: r.commits, bytes_freed: r.bytesFreed }
}

export const cacheRmRendering: Rendering<CacheRmReport> = {
  text(r, { quiet, args }) {
    if (quiet) return {}
    // REPO@rev names one revision: the text names the commit it removed.
    const one = r.commits.length === 1 && String(args.repo).includes('@')
    return {
      out: `removed ${r.repo}${one ? `@${r.commits[0].slice(0, 12)}` : ''}, freed ${formatBytes(r.bytes_freed)}\n`,
    }
  },
}

export interface CacheVerifyReport {
  ok: boolean
  repos: {
    repo: string
    type: string
    blobs_checked: number
    bytes_checked: number
    problems: BlobProblem[]
  }[]
}

export async function runCacheVerify(
  hub: HubOptions,
  repoArg: string | undefined,
  repoType: RepoType,
): Promise<CacheVerifyReport> {
  const cacheDir = resolveHubConfig(hub).cacheDir
  const repo = repoArg ? parseRepoId(repoArg, repoType) : undefined
  const report = await verifyCache(cacheDir, repo)
  if (repo && report.length === 0)
    throw new HubError(
      'E_NOT_CACHED',
      `${repo.name} is not in the cache (${cacheDir}, ${repoFolderName(repo)})`,
    )
  return {
    ok: report.every((r) => r.problems.length === 0),
    repos: report.map((r) => ({
      repo: r.repo,
      type: r.type,
      blobs_checked: r.blobsChecked,
      bytes_checked: r.bytesChecked,
      problems: r.problems,
    })),
  }
}

const badBlobs = (r: CacheVerifyReport) => r.repos.reduce((n, repo) => n + repo.problems.length, 0)

export const cacheVerifyRendering: Rendering<CacheVerifyReport> = {
  text(r, { quiet }) {
    let out = ''
    for (const repo of r.repos) {
      if (!quiet)
        out += `${repo.repo}: ${repo.blobs_checked} blobs, ${formatBytes(repo.bytes_checked)} checked, ${repo.problems.length ? `${repo.problems.length} bad` : 'ok'}\n`
      for (const p of repo.problems)
        out += `  ${p.problem === 'mismatch' ? 'MISMATCH' : 'MISSING '} ${p.blob}${p.actual ? ` (content hashes to ${p.actual})` : ''}${p.files.length ? ` ← ${p.files.join(', ')}` : ''}\n`
    }
    const bad = badBlobs(r)
    // The report is the output; the exit status says it failed.
    const err = bad
      ? `kiln: ${bad} bad ${bad === 1 ? 'blob' : 'blobs'}: fetch again with \`kiln download REPO --force\`\n`
      : undefined
    return { out, err }
  },
  status: (r) => (badBlobs(r) > 0 ? 1 : 0),
}
