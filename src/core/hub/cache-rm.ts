// `kiln cache rm REPO[@rev]`: a whole repo, or one revision (its snapshot, the refs naming it, and
// the blobs no other snapshot links to).
import { readFile, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { repoCachePaths } from './cache-paths.js'
import { scanRepo, snapshotLinks } from './cache-scan.js'
import { HubError } from './errors.js'
import { type RepoRef, repoFolderName } from './repo-id.js'

export interface RemoveResult {
  repo: string
  /** Commits whose snapshots were removed. */
  commits: string[]
  bytesFreed: number
}

export async function removeFromCache(cacheDir: string, repo: RepoRef): Promise<RemoveResult> {
  const folder = repoFolderName(repo)
  const info = await scanRepo(cacheDir, folder)
  const paths = repoCachePaths(cacheDir, repo)
  const exists = await stat(paths.root).then(
    () => true,
    () => false,
  )
  if (!info || !exists) throw new HubError('E_NOT_CACHED', `${repo.name} is not in the cache (${cacheDir})`)
  if (repo.revision === undefined) {
    await rm(paths.root, { recursive: true, force: true })
    await rm(path.join(cacheDir, '.locks', folder), { recursive: true, force: true })
    return {
      repo: repo.name,
      commits: info.revisions.map((r) => r.commit),
      bytesFreed: info.size + info.incomplete,
    }
  }
  const rev = repo.revision
  let commit = info.revisions.find((r) => r.commit === rev || r.refs.includes(rev))?.commit
  if (!commit) {
    // A ref whose snapshot is already gone still names a commit worth cleaning up after.
    commit = await readFile(paths.ref(rev), 'utf8').then(
      (t) => t.trim(),
      () => undefined,
    )
  }
  if (!commit) throw new HubError('E_NOT_CACHED', `${repo.name}@${rev} is not in the cache (${cacheDir})`)
  const gone = info.revisions.find((r) => r.commit === commit)
  const keep = new Set<string>()
  for (const r of info.revisions) {
    if (r.commit === commit) continue
    for (const l of await snapshotLinks(paths.snapshot(r.commit))) keep.add(l.blob)
  }
  let bytesFreed = 0
  for (const l of gone ? await snapshotLinks(paths.snapshot(commit)) : []) {
    if (!l.blob || keep.has(l.blob)) continue
    keep.add(l.blob) // count each blob once
    const st = await stat(paths.blob(l.blob)).catch(() => undefined)
    if (st) bytesFreed += st.size
    await rm(paths.blob(l.blob), { force: true })
  }
  await rm(paths.snapshot(commit), { recursive: true, force: true })
  await rm(path.join(paths.root, '.no_exist', commit), { recursive: true, force: true })
  for (const ref of gone?.refs ?? [rev]) await rm(paths.ref(ref), { force: true })
  return { repo: repo.name, commits: [commit], bytesFreed }
}
