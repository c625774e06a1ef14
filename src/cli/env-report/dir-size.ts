// The bytes a folder holds (the Hub cache), counting each file once: symlinks are not followed, so
// snapshots (links into blobs) do not count their blobs twice.
import { lstatSync, readdirSync } from 'node:fs'
import path from 'node:path'

export function dirSize(dir: string): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  const stack = [dir]
  while (stack.length) {
    const d = stack.pop()!
    let entries: import('node:fs').Dirent[]
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      continue // unreadable: counted as empty rather than failing the whole report
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) stack.push(p)
      else if (e.isFile()) {
        try {
          bytes += lstatSync(p).size
          files++
        } catch {}
      }
    }
  }
  return { bytes, files }
}
