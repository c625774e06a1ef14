// What `kiln cache ls|rm|verify` do between parsing flags and printing.
import type { HubSettings, Output } from '../generate-command.js'
import { removeFromCache } from './cache-rm.js'
import { scanCache } from './cache-scan.js'
import { verifyCache } from './cache-verify.js'
import { resolveHubConfig } from './config.js'
import { HubError } from './errors.js'
import { formatBytes } from './progress.js'
import { parseRepoId, type RepoType, repoFolderName } from './repo-id.js'

export interface CacheInput {
  hub: HubSettings
  json: boolean
  quiet: boolean
}

export async function runCacheLs(input: CacheInput, io: Output): Promise<void> {
  const cacheDir = resolveHubConfig(input.hub).cacheDir
  const repos = await scanCache(cacheDir)
  if (input.json) {
    io.out(
      `${JSON.stringify({
        cache_dir: cacheDir,
        repos: repos.map((r) => ({
          repo: r.name,
          type: r.type,
          size: r.size,
          incomplete_bytes: r.incomplete,
          revisions: r.revisions.map((v) => ({
            commit: v.commit,
            refs: v.refs,
            files: v.files,
            size: v.size,
          })),
        })),
      })}\n`,
    )
    return
  }
  if (repos.length === 0) {
    if (!input.quiet) io.err(`the cache is empty (${cacheDir})\n`)
    return
  }
  if (input.quiet) {
    for (const r of repos) io.out(`${r.type === 'model' ? '' : `${r.type}s/`}${r.name}\n`)
    return
  }
  const w = Math.max(4, ...repos.map((r) => r.name.length))
  io.out(`${'REPO'.padEnd(w)}  TYPE     ${'SIZE'.padStart(10)}  REVISIONS\n`)
  let total = 0
  for (const r of repos) {
    total += r.size + r.incomplete
    const revs = r.revisions
      .map((v) => `${v.refs.length ? `${v.refs.join(',')}=` : ''}${v.commit.slice(0, 12)} (${v.files} files)`)
      .join('  ')
    const partial = r.incomplete ? `  [+${formatBytes(r.incomplete)} partial]` : ''
    io.out(
      `${r.name.padEnd(w)}  ${r.type.padEnd(7)}  ${formatBytes(r.size).padStart(10)}  ${revs || '-'}${partial}\n`,
    )
  }
  io.out(`${repos.length} repos, ${formatBytes(total)} in ${cacheDir}\n`)
}

export async function runCacheRm(
  input: CacheInput & { repo: string; repoType: RepoType },
  io: Output,
): Promise<void> {
  const cacheDir = resolveHubConfig(input.hub).cacheDir
  const r = await removeFromCache(cacheDir, parseRepoId(input.repo, input.repoType))
  if (input.json) {
    io.out(`${JSON.stringify({ repo: r.repo, commits: r.commits, bytes_freed: r.bytesFreed })}\n`)
    return
  }
  if (!input.quiet)
    io.out(
      `removed ${r.repo}${r.commits.length === 1 && input.repo.includes('@') ? `@${r.commits[0].slice(0, 12)}` : ''}, freed ${formatBytes(r.bytesFreed)}\n`,
    )
}

export async function runCacheVerify(
  input: CacheInput & { repo?: string; repoType: RepoType },
  io: Output,
): Promise<void> {
  const cacheDir = resolveHubConfig(input.hub).cacheDir
  const repo = input.repo ? parseRepoId(input.repo, input.repoType) : undefined
  const report = await verifyCache(cacheDir, repo)
  if (repo && report.length === 0)
    throw new HubError(
      'E_NOT_CACHED',
      `${repo.name} is not in the cache (${cacheDir}, ${repoFolderName(repo)})`,
    )
  const bad = report.reduce((n, r) => n + r.problems.length, 0)
  if (input.json) {
    io.out(
      `${JSON.stringify({
        ok: bad === 0,
        repos: report.map((r) => ({
          repo: r.repo,
          type: r.type,
          blobs_checked: r.blobsChecked,
          bytes_checked: r.bytesChecked,
          problems: r.problems,
        })),
      })}\n`,
    )
  } else {
    for (const r of report) {
      if (!input.quiet)
        io.out(
          `${r.repo}: ${r.blobsChecked} blobs, ${formatBytes(r.bytesChecked)} checked, ${r.problems.length ? `${r.problems.length} bad` : 'ok'}\n`,
        )
      for (const p of r.problems)
        io.out(
          `  ${p.problem === 'mismatch' ? 'MISMATCH' : 'MISSING '} ${p.blob}${p.actual ? ` (content hashes to ${p.actual})` : ''}${p.files.length ? ` ← ${p.files.join(', ')}` : ''}\n`,
        )
    }
  }
  if (bad > 0) {
    // The report is the output; the exit status says it failed.
    if (!input.json)
      io.err(
        `kiln: ${bad} bad ${bad === 1 ? 'blob' : 'blobs'}: fetch again with \`kiln download REPO --force\`\n`,
      )
    process.exitCode = 1
  }
}
