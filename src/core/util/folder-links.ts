// A model folder is read as data from wherever it came from (a git clone, an archive, a copy): a
// symlink in it must not make kiln read a file outside it (~/.ssh/id_rsa as tokenizer.json, the
// settings file holding a token as config.json), whose bytes would then reach error messages or an
// exported file. Links are allowed to stay inside the folder, to reach the blobs of the Hub cache
// repo a snapshot belongs to (the cache's own snapshot → ../../blobs/<etag> links), or to reach the
// Hugging Face cache root (a folder of links into the cache, as older huggingface_hub wrote them).
import { type Dirent, readdirSync, readlinkSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { FormatError } from '../errors.js'
import { hfHome } from '../hub/config.js'
import { quote } from './shown.js'

/** Folders deeper than this are not walked (a model folder has one or two levels). */
const MAX_DEPTH = 6
/** Entries looked at before the walk stops: a home folder passed by mistake must not be walked whole. */
const MAX_ENTRIES = 20_000

function inside(p: string, root: string): boolean {
  if (p === root) return true
  return p.startsWith(root.endsWith(path.sep) ? root : root + path.sep)
}

function realOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}

/** The Hugging Face cache root as Python's huggingface_hub resolves it from the environment. */
function hubCacheRoot(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(hfHome(env), 'hub'))
}

/**
 * Throws a FormatError naming the first symlink under `dir` whose target resolves outside `dir` and
 * outside the places listed above. A missing `dir` is left to the caller to report.
 */
export function refuseEscapingLinks(dir: string, env: NodeJS.ProcessEnv = process.env): void {
  const real = realOrUndefined(dir)
  if (real === undefined) return
  const roots = [real]
  // `<cache>/<type>s--<org>--<name>/snapshots/<commit>[/sub]`: the same repo's blobs are fine.
  const snapshot =
    /^(.*[\\/](?:models|datasets|spaces)--[^\\/]+)[\\/]snapshots[\\/][^\\/]+(?:[\\/].*)?$/.exec(real)
  if (snapshot) roots.push(path.join(snapshot[1], 'blobs'))
  const cache = realOrUndefined(hubCacheRoot(env))
  if (cache !== undefined) roots.push(cache)
  let seen = 0
  const walk = (folder: string, depth: number): void => {
    const rel = (name: string) => quote(path.relative(real, path.join(folder, name)), 1000)
    let entries: Dirent[]
    try {
      entries = readdirSync(folder, { withFileTypes: true })
    } catch {
      return // unreadable: the reader that needs it reports it
    }
    for (const e of entries) {
      if (++seen > MAX_ENTRIES) return
      const full = path.join(folder, e.name)
      if (e.isSymbolicLink()) {
        let target: string
        try {
          target = realpathSync(full)
        } catch (err) {
          // Dangling (or a loop): judged by where it points, so a link waiting for a file to appear
          // outside is refused as well.
          let link: string
          try {
            link = readlinkSync(full)
          } catch {
            continue
          }
          if ((err as NodeJS.ErrnoException).code === 'ELOOP')
            throw new FormatError(`${dir}: ${rel(e.name)} is a symlink loop`)
          target = path.resolve(folder, link)
        }
        if (!roots.some((root) => inside(target, root)))
          throw new FormatError(
            `${dir}: ${rel(e.name)} is a symlink to ${quote(target, 1000)}, outside the model folder` +
              `${cache === undefined ? '' : ' and the Hugging Face cache'}; kiln reads no file a folder links to outside it`,
          )
      } else if (e.isDirectory() && depth < MAX_DEPTH && e.name !== '.git') walk(full, depth + 1)
    }
  }
  walk(real, 0)
}
