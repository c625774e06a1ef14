// The snapshot side of the cache: `snapshots/<commit>/<path>` as a relative symlink to
// `../../blobs/<etag>` (replaced atomically), `refs/<revision>` holding the bare commit, and
// `.no_exist/<commit>/<path>` markers, all as Python's huggingface_hub writes them.
import { randomBytes } from 'node:crypto'
import { mkdir, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

const tmpName = (p: string) => `${p}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`

export async function linkSnapshotFile(blobPath: string, pointerPath: string): Promise<void> {
  const target = path.relative(path.dirname(pointerPath), blobPath)
  try {
    if ((await readlink(pointerPath)) === target) return
  } catch {}
  await mkdir(path.dirname(pointerPath), { recursive: true })
  const tmp = tmpName(pointerPath)
  await symlink(target, tmp)
  try {
    await rename(tmp, pointerPath)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
}

/** Writes a small file atomically (temporary name, rename). */
export async function writeSmallFileAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  const tmp = tmpName(file)
  await writeFile(tmp, content)
  try {
    await rename(tmp, file)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
}

/** `refs/<revision>` ← commit, no trailing newline (what Python writes and reads). */
export async function writeRef(refPath: string, commit: string): Promise<void> {
  await writeSmallFileAtomic(refPath, commit)
}

export async function markNoExist(markerPath: string): Promise<void> {
  await writeSmallFileAtomic(markerPath, '')
}
