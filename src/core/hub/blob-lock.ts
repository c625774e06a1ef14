// One process at a time per blob: `.locks/<repo folder>/<etag>.lock` (the path Python's filelock
// uses) created atomically with the holder's pid inside. A lock whose holder is dead (killed part way)
// is taken over. Python holds its lock with flock, which Node cannot see: an empty lock file (Python's
// leftover) is treated as free.
import { randomBytes } from 'node:crypto'
import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function alive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function holder(lockPath: string): Promise<number | undefined | null> {
  try {
    const text = (await readFile(lockPath, 'utf8')).trim()
    const pid = Number(text)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return undefined // gone
  }
}

export type ReleaseLock = () => Promise<void>

/** Waits for and takes the lock; `onWait` is called once if another live process holds it. */
/**
 * The temporary names of a lock (`<lock>.<pid>.<hex>`, `<lock>.stale.<pid>.<hex>`) whose process is
 * gone: a process killed while it waited for the lock leaves them, and nothing else would remove them.
 */
async function removeDeadTemporaries(lockPath: string): Promise<void> {
  const base = `${path.basename(lockPath)}.`
  const names = await readdir(path.dirname(lockPath)).catch(() => [] as string[])
  for (const name of names) {
    if (!name.startsWith(base)) continue
    const m = /^(?:stale\.)?(\d+)\.[0-9a-f]+$/.exec(name.slice(base.length))
    if (m && !alive(Number(m[1]))) await unlink(path.join(path.dirname(lockPath), name)).catch(() => {})
  }
}

export async function acquireBlobLock(lockPath: string, onWait?: () => void): Promise<ReleaseLock> {
  await mkdir(path.dirname(lockPath), { recursive: true })
  await removeDeadTemporaries(lockPath)
  const token = `${process.pid}`
  const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`
  await writeFile(tmp, token)
  let waited = false
  try {
    for (;;) {
      try {
        // link() fails if the lock exists, and the lock appears with its content already in it.
        await link(tmp, lockPath)
        break
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const pid = await holder(lockPath)
      if (pid === undefined) continue
      if (pid === null || !alive(pid)) {
        // Move the stale lock aside, then make sure it was the stale one we moved.
        const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`
        try {
          await rename(lockPath, aside)
          const moved = await holder(aside)
          if (moved !== pid && moved !== null && moved !== undefined && alive(moved))
            await link(aside, lockPath).catch(() => {})
          await unlink(aside).catch(() => {})
        } catch {}
        continue
      }
      if (!waited) onWait?.()
      waited = true
      await sleep(100)
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return async () => {
    if ((await holder(lockPath)) === process.pid) await unlink(lockPath).catch(() => {})
  }
}
