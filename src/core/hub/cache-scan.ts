// `kiln cache ls`: what the cache holds — repos, their revisions (refs and snapshots), sizes — read
// from the folder layout alone, so it sees what Python put there as well.
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises'
import path from 'node:path'
import { parseRepoFolderName, type RepoType } from './repo-id.js'

export interface CachedRevision {
  commit: string
  /** Ref names (branches, tags) that point at this commit. */
  refs: string[]
  files: number
  /** Bytes of the blobs this snapshot links to. */
  size: number
}

export interface CachedRepo {
  type: RepoType
  name: string
  folder: string
  /** Bytes of all complete blobs. */
  size: number
  /** Bytes of partial downloads waiting to be resumed. */
  incomplete: number
  revisions: CachedRevision[]
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch {
    return []
  }
}

/** refs/ may nest (`refs/pr/1`): every file under it, as `name → commit`. */
async function readRefs(dir: string, prefix = ''): Promise<[string, string][]> {
  const out: [string, string][] = []
  for (const e of await listDir(dir)) {
    const full = path.join(dir, e)
    const name = prefix ? `${prefix}/${e}` : e
    const st = await stat(full).catch(() => undefined)
    if (st?.isDirectory()) out.push(...(await readRefs(full, name)))
    else if (st?.isFile()) out.push([name, (await readFile(full, 'utf8')).trim()])
  }
  return out
}

/** The blob names a snapshot links to, with the repo paths linking to each. */
export async function snapshotLinks(
  snapshotDir: string,
  prefix = '',
): Promise<{ path: string; blob: string }[]> {
  const out: { path: string; blob: string }[] = []
  for (const e of await listDir(snapshotDir)) {
    const full = path.join(snapshotDir, e)
    const rel = prefix ? `${prefix}/${e}` : e
    const st = await lstat(full).catch(() => undefined)
    if (!st) continue
    if (st.isDirectory()) out.push(...(await snapshotLinks(full, rel)))
    else if (st.isSymbolicLink()) out.push({ path: rel, blob: path.basename(await readlink(full)) })
    else out.push({ path: rel, blob: '' }) // a real file (copied, no symlink support)
  }
  return out
}

export async function scanRepo(cacheDir: string, folder: string): Promise<CachedRepo | undefined> {
  const id = parseRepoFolderName(folder)
  if (!id) return undefined
  const root = path.join(cacheDir, folder)
  const blobSizes = new Map<string, number>()
  let size = 0
  let incomplete = 0
  for (const b of await listDir(path.join(root, 'blobs'))) {
    const st = await stat(path.join(root, 'blobs', b)).catch(() => undefined)
    if (!st?.isFile()) continue
    if (b.endsWith('.incomplete')) incomplete += st.size
    else {
      blobSizes.set(b, st.size)
      size += st.size
    }
  }
  const refs = await readRefs(path.join(root, 'refs'))
  const revisions: CachedRevision[] = []
  for (const commit of await listDir(path.join(root, 'snapshots'))) {
    const links = await snapshotLinks(path.join(root, 'snapshots', commit))
    const blobs = new Set(links.map((l) => l.blob).filter((b) => b))
    let revSize = 0
    for (const b of blobs) revSize += blobSizes.get(b) ?? 0
    revisions.push({
      commit,
      refs: refs.filter(([, c]) => c === commit).map(([n]) => n),
      files: links.length,
      size: revSize,
    })
  }
  return { ...id, folder, size, incomplete, revisions }
}

export async function scanCache(cacheDir: string): Promise<CachedRepo[]> {
  const repos: CachedRepo[] = []
  for (const folder of (await listDir(cacheDir)).sort()) {
    const r = await scanRepo(cacheDir, folder)
    if (r) repos.push(r)
  }
  return repos
}
