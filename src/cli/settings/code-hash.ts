// A hash of some of this folder's own modules, so that what was derived from them (the settings
// cache, the rules table) is known to be stale when kiln's code changes. Reads the .js files when
// compiled and the .ts files when the tests run the sources.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'

const memo = new Map<string, string>()

/** sha256 over the named sibling modules (`['schema', 'types']`), in order. */
export function codeHash(modules: string[]): string {
  const id = modules.join(',')
  let hash = memo.get(id)
  if (hash === undefined) {
    const h = createHash('sha256')
    const ext = path.extname(new URL(import.meta.url).pathname)
    for (const m of modules) h.update(readFileSync(new URL(`./${m}${ext}`, import.meta.url)))
    hash = h.digest('hex')
    memo.set(id, hash)
  }
  return hash
}
