// What the hub-api fuzz target checks on disk after each case (hub-api.fuzz.test.ts): the cache's
// links lead to verified blobs inside it, every blob matches its name, no lock or stray file is left,
// and a --local-dir holds only complete files.
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { FuzzFailure } from './harness.js'

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

function gitSha1File(file: string): string {
  const b = readFileSync(file)
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex')
}

/** Every path under `dir` (files, links, folders), relative. */
export function walk(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const r = rel ? `${rel}/${name}` : name
    out.push(r)
    const st = lstatSync(path.join(dir, name))
    if (st.isDirectory() && !st.isSymbolicLink()) out.push(...walk(path.join(dir, name), r))
  }
  return out
}

/** The cache after a case: links lead to verified blobs inside it, blobs match their names. */
export function checkCache(cache: string): void {
  for (const rel of walk(cache)) {
    const p = path.join(cache, rel)
    const st = lstatSync(p)
    const parts = rel.split('/')
    if (st.isSymbolicLink()) {
      if (parts[1] !== 'snapshots') throw new FuzzFailure(`a symlink outside snapshots/: ${rel}`, 'answer')
      let target: string
      try {
        target = realpathSync(p)
      } catch {
        throw new FuzzFailure(`snapshot link ${rel} leads nowhere`, 'answer')
      }
      const blobs = realpathSync(path.join(cache, parts[0], 'blobs'))
      if (path.dirname(target) !== blobs)
        throw new FuzzFailure(`snapshot link ${rel} leads out of the blobs: ${target}`, 'answer')
    } else if (st.isFile()) {
      if (parts[1] === 'blobs' && parts.length === 3) {
        const name = parts[2]
        if (name.endsWith('.incomplete')) continue
        const digest = name.length === 64 ? sha256File(p) : gitSha1File(p)
        if (digest !== name)
          throw new FuzzFailure(`blob ${rel} holds bytes whose hash is ${digest}`, 'answer')
      } else if (parts[1] === 'refs') {
        if (!/^[0-9a-f]{40}$/.test(readFileSync(p, 'utf8')))
          throw new FuzzFailure(`ref ${rel} holds ${JSON.stringify(readFileSync(p, 'utf8'))}`, 'answer')
      } else if (parts[0] === '.locks') {
        // Lock files are removed when released.
        throw new FuzzFailure(`a lock left behind: ${rel}`, 'answer')
      } else if (parts[1] !== '.no_exist') {
        throw new FuzzFailure(`an unexpected file in the cache: ${rel}`, 'answer')
      }
    }
  }
}

/** A --local-dir after a case: every file outside .cache/ is one of the repo's true contents. */
export function checkLocalDir(dir: string, trueContents: Set<string>): void {
  for (const rel of walk(dir)) {
    const p = path.join(dir, rel)
    const st = lstatSync(p)
    if (st.isSymbolicLink()) throw new FuzzFailure(`a symlink in the local dir: ${rel}`, 'answer')
    if (!st.isFile() || rel.startsWith('.cache/')) continue
    if (!trueContents.has(sha256File(p)))
      throw new FuzzFailure(`local-dir file ${rel} is not complete (${st.size} bytes)`, 'answer')
  }
}
