// `org/name[@revision]` as given on the command line, checked and split.
import { UsageError } from '../errors.js'

export type RepoType = 'model' | 'dataset'

export interface RepoRef {
  type: RepoType
  /** `org/name` (or a bare legacy `name` such as `gpt2`). */
  name: string
  /** From `@rev` in the argument, when given. */
  revision?: string
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** True when `s` has the shape of a repo id (one or two name parts), so it can be told from a path. */
export function looksLikeRepoId(s: string): boolean {
  const at = s.indexOf('@')
  const name = at < 0 ? s : s.slice(0, at)
  const parts = name.split('/')
  return parts.length === 2 && parts.every((p) => PART.test(p) && !p.includes('..'))
}

export function parseRepoId(arg: string, type: RepoType = 'model'): RepoRef {
  const at = arg.indexOf('@')
  const name = at < 0 ? arg : arg.slice(0, at)
  const revision = at < 0 ? undefined : arg.slice(at + 1)
  const parts = name.split('/')
  if (parts.length > 2 || !parts.every((p) => PART.test(p) && !p.includes('..')))
    throw new UsageError(`"${arg}" is not a repo id: expected org/name or org/name@revision`)
  if (revision !== undefined && (revision === '' || revision.split('/').includes('..')))
    throw new UsageError(`"${arg}": empty or invalid revision after "@"`)
  return { type, name, revision }
}

/** The folder name Python uses in the cache: `models--org--name`. */
export function repoFolderName(repo: { type: RepoType; name: string }): string {
  return `${repo.type}s--${repo.name.split('/').join('--')}`
}

/** The reverse of repoFolderName, for cache scans. */
export function parseRepoFolderName(folder: string): { type: RepoType; name: string } | undefined {
  const m = /^(model|dataset)s--(.+)$/.exec(folder)
  if (!m) return undefined
  return { type: m[1] as RepoType, name: m[2].split('--').join('/') }
}

export const COMMIT_RE = /^[0-9a-f]{40}$/
