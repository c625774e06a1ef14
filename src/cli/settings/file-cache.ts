// A record of the last settings file kiln validated, so that start-up (`kiln config get`, every
// command that reads a setting) skips yaml and zod, which together cost about the whole 150 ms
// start-up budget, when the file has not changed. Keyed by a hash of the file's text and of the
// code that validates it, so an edited file or a new kiln is always validated again. Lives under
// $XDG_CACHE_HOME/kiln (default ~/.cache/kiln), mode 0600 like the settings file, whose values it
// holds (huggingface_hub keeps its token under ~/.cache too). Failing to read or write it is never
// an error: it is only a cache.
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { codeHash } from './code-hash.js'

/** The modules that turn a file's text into values. */
const CODE = ['schema', 'load', 'values', 'types', 'simple-yaml', 'rules', 'light-load']

export function settingsCachePath(env: NodeJS.ProcessEnv): string {
  const base =
    env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
      ? env.XDG_CACHE_HOME
      : path.join(os.homedir(), '.cache')
  return path.join(base, 'kiln', 'settings-cache.json')
}

function keyOf(text: string): string {
  return createHash('sha256').update(codeHash(CODE)).update('\0').update(text).digest('hex')
}

/** The values validated for exactly this text, or undefined. */
export function cachedValues(text: string, env: NodeJS.ProcessEnv): Map<string, unknown> | undefined {
  if (env.KILN_NO_SETTINGS_CACHE) return undefined
  try {
    const c = JSON.parse(readFileSync(settingsCachePath(env), 'utf8')) as {
      key?: string
      values?: [string, unknown][]
    }
    if (c.key !== keyOf(text) || !Array.isArray(c.values)) return undefined
    return new Map(c.values)
  } catch {
    return undefined
  }
}

export function rememberValues(text: string, values: Map<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (env.KILN_NO_SETTINGS_CACHE) return
  try {
    const file = settingsCachePath(env)
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    // A private temporary name, then rename: a reader sees the old record or the new one.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    writeFileSync(tmp, JSON.stringify({ key: keyOf(text), values: [...values] }), { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
  } catch {
    // only a cache
  }
}
