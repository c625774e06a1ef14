// The snapshot side of the cache: `snapshots/<commit>/<path>` as a relative symlink to
// `../../blobs/<etag>` (replaced atomically), `refs/<revision>` holding the bare commit, and
// `.no_exist/<commit>/<path>` markers, all as Python's huggingface_hub writes them.
import { randomBytes } from 'node:crypto'
import { mkdir, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

/**
 * A temporary name beside `p`. Its base is cut to 200 bytes, so that the name stays within the 255
 * bytes a file name may have even when `p`'s own name is near that (the Hub allows such names).
 */
function tmpName(p: string): string {
  let base = path.basename(p)
  while (Buffer.byteLength(base) > 200) base = base.slice(0, -1)
  return path.join(path.dirname(p), `${base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
}

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
