// A lock file next to the settings file, so concurrent `kiln config set` runs each see the previous
// one's write (read-modify-write under the lock; the write itself is atomic).
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { SettingsError } from '../../core/errors.js'

const STALE_MS = 10_000
const WAIT_MS = 15_000

function holderAlive(lockPath: string): boolean {
  try {
    const pid = Number(readFileSync(lockPath, 'utf8').trim())
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - statSync(lockPath).mtimeMs < STALE_MS
    process.kill(pid, 0)
    return Date.now() - statSync(lockPath).mtimeMs < STALE_MS * 6
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Removes a lock whose holder is dead. Not by unlinking the path: between reading the dead pid and
 * the unlink, another process may have removed the stale lock and taken a fresh one, and two
 * writers would then both hold "the" lock and one's edit would be lost. The lock is moved aside
 * instead, and put back if what was moved turns out to be a live holder's.
 */
function takeOverStale(lockPath: string): void {
  const aside = `${lockPath}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`
  try {
    renameSync(lockPath, aside)
  } catch {
    return // already gone
  }
  if (holderAlive(aside)) {
    try {
      linkSync(aside, lockPath)
    } catch {}
  }
  try {
    unlinkSync(aside)
  } catch {}
}

/** Runs `fn` holding `<path>.lock`; a lock left by a dead process is taken over. */
export async function withLock<T>(path: string, fn: () => T | Promise<T>): Promise<T> {
  const lockPath = `${path}.lock`
  const start = Date.now()
  let fd: number | undefined
  while (fd === undefined) {
    try {
      fd = openSync(lockPath, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code !== 'EEXIST')
        throw new SettingsError(`${lockPath}: cannot lock the settings file (${code ?? e})`)
      if (!holderAlive(lockPath)) {
        takeOverStale(lockPath)
        continue
      }
      if (Date.now() - start > WAIT_MS)
        throw new SettingsError(`${lockPath}: still locked by another kiln after ${WAIT_MS / 1000} s`)
      await sleep(5 + Math.random() * 20)
    }
  }
  try {
    return await fn()
  } finally {
    // Only the lock this process made: if it was taken over meanwhile, the path is another's now.
    try {
      if (statSync(lockPath).ino === fstatSync(fd).ino) unlinkSync(lockPath)
    } catch {}
    closeSync(fd)
  }
}
