// Folders that appear complete or not at all: filled under a temporary name beside their place,
// then renamed into it. A kill while filling leaves only the temporary, which the next write of
// the same folder removes (files.ts: removeDeadTemporaries). Replacing takes two renames (the old
// folder aside, the new one in); a kill between them leaves the old one whole under a backup name,
// which recoverFolder puts back.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import nodePath from 'node:path'
import { KilnError, option, UsageError } from '../errors.js'
import { deadTemporaries, removeDeadTemporaries } from './files.js'

/** The old folder while replaceFolder swaps in the new one. */
const BACKUP = '.previous'

/**
 * Puts back the old copy of `dir` that a writer killed mid-replace left aside (when `dir` itself is
 * missing), and removes old copies left beside a `dir` in place. Readers of a folder written with
 * replace call it first.
 */
export function recoverFolder(dir: string): void {
  const parent = nodePath.dirname(dir)
  const base = nodePath.basename(dir)
  const backups = deadTemporaries(parent, base, BACKUP)
  if (!existsSync(dir) && backups.length > 0) {
    const mtime = (n: string) => statSync(nodePath.join(parent, n)).mtimeMs
    const newest = backups.reduce((a, b) => (mtime(b) > mtime(a) ? b : a))
    renameSync(nodePath.join(parent, newest), dir)
  }
  removeDeadTemporaries(parent, base, BACKUP)
}

/**
 * Calls `fill(tmp)` on a new empty folder beside `dir`, then puts it at `dir`. An existing `dir` is
 * refused unless `replace`, and then goes only once the new one is in place.
 */
export function writeFolderAtomic<T>(
  dir: string,
  fill: (tmp: string) => T,
  opts: { replace?: boolean } = {},
): T {
  const parent = nodePath.dirname(dir)
  recoverFolder(dir)
  removeDeadTemporaries(parent, nodePath.basename(dir))
  const tmp = nodePath.join(
    parent,
    `.${nodePath.basename(dir)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.tmp`,
  )
  try {
    mkdirSync(tmp, { recursive: true })
    const result = fill(tmp)
    replaceFolder(tmp, dir, opts.replace ?? false)
    return result
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}

/** Puts the finished folder `tmp` at `dir`; an old `dir` (with replace) goes only once the new one is in place. */
function replaceFolder(tmp: string, dir: string, replace: boolean): void {
  if (!existsSync(dir)) {
    renameSync(tmp, dir)
    return
  }
  if (!replace) throw new UsageError(`${dir} exists (pass ${option('force')} to replace it)`)
  // A kill between the two renames leaves it for recoverFolder to put back.
  const old = tmp.replace(/\.tmp$/, BACKUP)
  renameSync(dir, old)
  try {
    renameSync(tmp, dir)
  } catch (e) {
    renameSync(old, dir)
    throw new KilnError('E_WRITE', `cannot move the new folder into ${dir}: ${(e as Error).message}`)
  }
  rmSync(old, { recursive: true, force: true })
}
