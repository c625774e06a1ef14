// What a blob's name promises: the sha256 of its bytes (LFS files) or the git blob sha1 of them
// ("blob <size>\0" + bytes) for small files. Both are checked, incrementally as bytes arrive.
import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'

export type BlobHashKind = 'sha256' | 'git-sha1'

/** The kind implied by an etag: 64 hex digits = sha256, 40 = git sha1. */
export function hashKindOf(etag: string): BlobHashKind | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return 'sha256'
  if (/^[0-9a-f]{40}$/.test(etag)) return 'git-sha1'
  return undefined
}

export function newBlobHash(kind: BlobHashKind, size: number): Hash {
  if (kind === 'sha256') return createHash('sha256')
  const h = createHash('sha1')
  h.update(`blob ${size}\0`)
  return h
}

/** Feeds the first `length` bytes of `file` into `hash` (a partial file being resumed). */
export async function hashFileInto(hash: Hash, file: string, length?: number): Promise<number> {
  let n = 0
  if (length === 0) return 0
  const s = createReadStream(file, {
    highWaterMark: 1 << 20,
    ...(length !== undefined ? { end: length - 1 } : {}),
  })
  for await (const c of s) {
    hash.update(c as Buffer)
    n += (c as Buffer).length
  }
  return n
}

/** Hashes a whole blob file the way its etag says; undefined when the name is no known hash. */
export async function hashBlobFile(file: string, etag: string, size: number): Promise<string | undefined> {
  const kind = hashKindOf(etag)
  if (!kind) return undefined
  const h = newBlobHash(kind, size)
  await hashFileInto(h, file)
  return h.digest('hex')
}
