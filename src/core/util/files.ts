// File helpers shared by the format readers and writers: mapping with a clear error, whole writes,
// and a durable rename.
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import nodePath from 'node:path'
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

/**
 * Writes `path` atomically: `write(fd)` fills a temporary file in the same folder, which is fsynced
 * and moved into place, so a crash leaves the old file or the new one, never half of one. Without
 * `overwrite`, an existing `path` is refused (FormatError). On any error the temporary file is removed
 * and the error rethrown.
 */
export function writeFileAtomic(
  path: string,
  write: (fd: number) => void,
  opts: { overwrite?: boolean } = {},
): void {
  const dir = nodePath.dirname(path)
  removeDeadTemporaries(dir, nodePath.basename(path))
  const tmp = nodePath.join(
    dir,
    `.${nodePath.basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
  )
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'wx', 0o644)
    write(fd)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    publish(tmp, path, opts.overwrite ?? true)
  } catch (e) {
    if (fd !== undefined) closeSync(fd)
    try {
      unlinkSync(tmp)
    } catch {
      // already gone (or never created)
    }
    throw e
  }
  syncDir(dir)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A process killed while writing (SIGKILL, power loss) leaves its temporary file behind: a copy of
 * a settings file with its token, or a half-written export of gigabytes, that no later write would
 * ever remove. The next write of the same file removes those of processes that are gone: the ones
 * named `.<base>.<pid>[.<random>]<suffix>` (files, or folders: an ONNX export is one).
 */
export function removeDeadTemporaries(dir: string, base: string, suffix = '.tmp'): void {
  // force: another writer may have removed it first
  for (const name of deadTemporaries(dir, base, suffix))
    rmSync(nodePath.join(dir, name), { recursive: true, force: true })
}

/** The names in `dir` of temporaries of `base` (see removeDeadTemporaries) whose writer is gone. */
export function deadTemporaries(dir: string, base: string, suffix: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return [] // the write itself reports a missing folder
  }
  const prefix = `.${base}.`
  return names.filter((name) => {
    if (!name.startsWith(prefix) || !name.endsWith(suffix)) return false
    const m = /^(\d+)(?:\.[0-9a-z]*)?$/.exec(name.slice(prefix.length, name.length - suffix.length))
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]))
  })
}

/**
 * Moves the finished temporary file into place. Without overwrite, a hard link refuses an existing
 * target atomically; filesystems without hard links fall back to a check and a rename.
 */
function publish(tmp: string, path: string, overwrite: boolean): void {
  if (overwrite) {
    renameSync(tmp, path)
    return
  }
  try {
    linkSync(tmp, path)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new FormatError(`${path}: already exists (pass overwrite to replace it)`)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw e
    if (existsSync(path)) throw new FormatError(`${path}: already exists (pass overwrite to replace it)`)
    renameSync(tmp, path)
    return
  }
  unlinkSync(tmp)
}
