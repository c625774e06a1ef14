// --local-dir: real files in a folder instead of the cache, with the bookkeeping Python's
// huggingface_hub keeps beside them (`.cache/huggingface/download/<path>.metadata` = commit, etag,
// time; partial files `<path>.<etag>.incomplete`), so either tool can resume or skip what the other did.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { writeSmallFileAtomic } from './snapshot-link.js'

export interface LocalDirPaths {
  file: string
  metadata: string
  lock: string
  incomplete(etag: string): string
}

export function localDirPaths(localDir: string, repoPath: string): LocalDirPaths {
  const rel = path.join(...repoPath.split('/'))
  const base = path.join(localDir, '.cache', 'huggingface', 'download', rel)
  return {
    file: path.join(localDir, rel),
    metadata: `${base}.metadata`,
    lock: `${base}.lock`,
    incomplete: (etag) => `${base}.${etag}.incomplete`,
  }
}

/** The etag recorded for a local file, if the file has not been modified since. */
export async function readLocalEtag(paths: LocalDirPaths): Promise<string | undefined> {
  try {
    const [commit, etag, ts] = (await readFile(paths.metadata, 'utf8')).split('\n')
    const timestamp = Number(ts)
    if (!commit || !etag || !Number.isFinite(timestamp)) return undefined
    const st = await stat(paths.file)
    // Python allows a second of slack: mtime is not precise everywhere.
    return st.mtimeMs / 1000 - 1 <= timestamp ? etag.trim() : undefined
  } catch {
    return undefined
  }
}

export async function writeLocalMetadata(paths: LocalDirPaths, commit: string, etag: string): Promise<void> {
  await writeSmallFileAtomic(paths.metadata, `${commit}\n${etag}\n${Date.now() / 1000}\n`)
}

/** `.cache/huggingface/.gitignore` = `*`, as Python writes it, so the bookkeeping stays out of git. */
export async function ensureLocalGitignore(localDir: string): Promise<void> {
  const dir = path.join(localDir, '.cache', 'huggingface')
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, '.gitignore'), '*', { flag: 'wx' }).catch(() => {})
}
