// Step 2: every file of a commit, through @huggingface/hub's listFiles (which follows the tree API's
// `Link: rel="next"` pages), reduced to what a download needs.
import { listFiles } from '@huggingface/hub'
import { HubError } from './errors.js'
import type { ErrorContext } from './hub-errors-map.js'
import { hubFetch } from './hub-fetch.js'
import type { RepoRef } from './repo-id.js'

export interface RepoFile {
  path: string
  size: number
  /** The blob's name in the cache: the LFS sha256, else the git blob sha1. */
  etag: string
  lfs: boolean
}

export async function listRepoFiles(
  repo: RepoRef,
  commit: string,
  endpoint: string,
  token: string | undefined,
): Promise<RepoFile[]> {
  const ctx: ErrorContext = { repo, endpoint, revision: commit, tokenGiven: !!token }
  const files: RepoFile[] = []
  for await (const e of listFiles({
    repo: { type: repo.type, name: repo.name },
    revision: commit,
    recursive: true,
    hubUrl: endpoint,
    fetch: hubFetch(ctx, token),
  })) {
    if (e.type !== 'file') continue
    const etag = e.lfs?.oid ?? e.oid
    if (!etag) continue
    // Paths become file names under the snapshot: nothing may climb out of it. Empty and `.`
    // segments (`/abs`, `a//b`, `.`) would name the folder itself or another spelling of a file, and
    // a NUL no file name can hold.
    if (
      e.path.includes('\0') ||
      e.path.split(/[/\\]/).some((part) => part === '' || part === '.' || part === '..') ||
      !/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(etag)
    )
      throw new HubError(
        'E_HUB',
        `${endpoint} listed an unsafe file entry in ${repo.name}: ${JSON.stringify(e.path)}`,
      )
    files.push({ path: e.path, size: e.lfs?.size ?? e.size, etag, lfs: !!e.lfs })
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return files
}
