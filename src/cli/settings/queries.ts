// What `kiln config get|list|path` print, as text or one JSON document. Shared by the oclif commands
// and the start-up fast path in bin/run.js, so both print the same bytes.
import { existsSync } from 'node:fs'
import { loadSettings } from './load.js'
import { settingsPath } from './location.js'
import { type ResolvedSetting, resolveAll, resolveSetting, shownValue } from './resolve.js'
import { requireKey } from './values.js'

export interface QueryOptions {
  json: boolean
  env?: NodeJS.ProcessEnv
}

function sourceText(s: ResolvedSetting): string {
  return s.from ? `${s.source} ${s.from}` : s.source
}

function settingJson(s: ResolvedSetting): Record<string, unknown> {
  return { value: shownValue(s), source: s.source, ...(s.from ? { from: s.from } : {}) }
}

/** `kiln config get KEY`: the value (secrets redacted); nothing when no source gives one. */
export async function configGet(key: string, opts: QueryOptions): Promise<string> {
  const env = opts.env ?? process.env
  const k = requireKey(key) // an unknown key fails before the file is read
  const file = await loadSettings(settingsPath(env), env)
  const s = await resolveSetting(k, { env, file })
  if (opts.json) return `${JSON.stringify({ key: s.key, ...settingJson(s) })}\n`
  return s.value === undefined ? '' : `${String(shownValue(s))}\n`
}

/** `kiln config list`: every setting's value, and with `sources` where it comes from. */
export async function configList(opts: QueryOptions & { sources: boolean }): Promise<string> {
  const env = opts.env ?? process.env
  const file = await loadSettings(settingsPath(env), env)
  const all = await resolveAll({ env, file })
  if (opts.json) {
    const settings = Object.fromEntries(
      all.map((s) => [s.key, opts.sources ? settingJson(s) : shownValue(s)]),
    )
    return `${JSON.stringify({ path: file.path, exists: file.exists, settings })}\n`
  }
  if (!opts.sources)
    return all
      .filter((s) => s.value !== undefined)
      .map((s) => `${s.key} = ${String(shownValue(s))}\n`)
      .join('')
  const width = Math.max(...all.map((s) => s.key.length))
  const shown = all.map((s) => (s.value === undefined ? '-' : String(shownValue(s))))
  const vwidth = Math.max(...shown.map((v) => v.length))
  return all.map((s, i) => `${s.key.padEnd(width)}  ${shown[i].padEnd(vwidth)}  ${sourceText(s)}\n`).join('')
}

/** `kiln config path`: where the settings file is (whether or not it exists yet). */
export function configPath(opts: QueryOptions): string {
  const path = settingsPath(opts.env ?? process.env)
  if (opts.json) return `${JSON.stringify({ path, exists: existsSync(path) })}\n`
  return `${path}\n`
}
