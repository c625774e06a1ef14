// `kiln cache verify [REPO]`: every blob re-hashed against its name (sha256 for LFS blobs, git sha1
// for the rest) and every snapshot link checked to lead to a blob.
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { hashBlobFile } from './blob-hash.js'
import { scanCache, snapshotLinks } from './cache-scan.js'
import type { DownloadListener } from './events.js'
import { type RepoRef, repoFolderName } from './repo-id.js'

export interface BlobProblem {
  blob: string
  /** 'mismatch': content differs from its name; 'missing': a snapshot links to a blob that is gone. */
  problem: 'mismatch' | 'missing'
  actual?: string
  /** Snapshot paths (`<commit>/<path>`) that lead to it. */
  files: string[]
}

export interface RepoVerification {
  repo: string
  type: string
  blobsChecked: number
  bytesChecked: number
  problems: BlobProblem[]
}

export async function verifyCache(
  cacheDir: string,
  repo?: RepoRef,
  onEvent: DownloadListener = () => {},
): Promise<RepoVerification[]> {
  const repos = (await scanCache(cacheDir)).filter((r) => !repo || r.folder === repoFolderName(repo))
  const out: RepoVerification[] = []
  for (const r of repos) {
    const root = path.join(cacheDir, r.folder)
    const users = new Map<string, string[]>()
    for (const rev of r.revisions)
      for (const l of await snapshotLinks(path.join(root, 'snapshots', rev.commit)))
        if (l.blob) users.set(l.blob, [...(users.get(l.blob) ?? []), `${rev.commit}/${l.path}`])
    const problems: BlobProblem[] = []
    let blobsChecked = 0
    let bytesChecked = 0
    const blobs = (await readdir(path.join(root, 'blobs')).catch(() => [] as string[])).filter(
      (b) => !b.endsWith('.incomplete') && !b.includes('.tmp-'),
    )
    for (const b of blobs.sort()) {
      const file = path.join(root, 'blobs', b)
      const st = await stat(file).catch(() => undefined)
      if (!st?.isFile()) continue
      const actual = await hashBlobFile(file, b, st.size)
      if (actual === undefined) continue // not named by a hash kiln knows
      blobsChecked++
      bytesChecked += st.size
      onEvent({ type: 'file-done', path: `${r.name}/${b.slice(0, 12)}`, size: st.size, downloaded: false })
      if (actual !== b) problems.push({ blob: b, problem: 'mismatch', actual, files: users.get(b) ?? [] })
    }
    const present = new Set(blobs)
    for (const [b, files] of users) if (!present.has(b)) problems.push({ blob: b, problem: 'missing', files })
    out.push({ repo: r.name, type: r.type, blobsChecked, bytesChecked, problems })
  }
  return out
}
