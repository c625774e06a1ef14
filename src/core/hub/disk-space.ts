// Refuses a download that cannot fit before any byte is fetched, rather than filling the disk.
import { statfs } from 'node:fs/promises'
import path from 'node:path'
import { HubError } from './errors.js'

export async function checkFreeSpace(dir: string, bytes: number): Promise<void> {
  if (bytes <= 0) return
  let probe = path.resolve(dir)
  for (;;) {
    try {
      const s = await statfs(probe)
      const free = s.bavail * s.bsize
      if (free < bytes)
        throw new HubError(
          'E_DISK_FULL',
          `not enough disk space in ${dir}: ${mb(bytes)} needed, ${mb(free)} free`,
        )
      return
    } catch (e) {
      if (e instanceof HubError) throw e
      const parent = path.dirname(probe)
      if (parent === probe) return // nothing to ask: let the writes report ENOSPC
      probe = parent
    }
  }
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`
