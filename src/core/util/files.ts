// File helpers shared by the format readers and writers: mapping with a clear error, whole writes,
// and a durable rename.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import { FormatError } from '../errors.js'
import { native } from '../native.js'

/** Memory-maps `path` read-only; an unreadable file becomes a FormatError naming it. */
export function mapFileOrThrow(path: string): ArrayBuffer {
  const addon = native() // outside the try: a missing addon is not a problem with the file
  try {
    return addon.mapFile(path)
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e)
    // The addon's messages already start with the path.
    throw new FormatError(msg.startsWith(path) ? msg : `${path}: ${msg}`)
  }
}

export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0
  // writeSync takes at most 2 GiB at a time.
  while (done < bytes.byteLength)
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30))
}

/** Makes a rename durable. Not every platform can fsync a folder; that is not an error. */
export function syncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
