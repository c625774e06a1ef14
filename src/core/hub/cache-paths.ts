// Paths of Python huggingface_hub's cache layout, in one place.
import path from 'node:path'
import { type RepoType, repoFolderName } from './repo-id.js'

export interface RepoCachePaths {
  root: string
  blob(etag: string): string
  incomplete(etag: string): string
  ref(revision: string): string
  snapshot(commit: string): string
  pointer(commit: string, file: string): string
  noExist(commit: string, file: string): string
  lock(etag: string): string
}

export function repoCachePaths(cacheDir: string, repo: { type: RepoType; name: string }): RepoCachePaths {
  const folder = repoFolderName(repo)
  const root = path.join(cacheDir, folder)
  return {
    root,
    blob: (etag) => path.join(root, 'blobs', etag),
    incomplete: (etag) => path.join(root, 'blobs', `${etag}.incomplete`),
    ref: (revision) => path.join(root, 'refs', revision),
    snapshot: (commit) => path.join(root, 'snapshots', commit),
    pointer: (commit, file) => path.join(root, 'snapshots', commit, ...file.split('/')),
    noExist: (commit, file) => path.join(root, '.no_exist', commit, ...file.split('/')),
    lock: (etag) => path.join(cacheDir, '.locks', folder, `${etag}.lock`),
  }
}
