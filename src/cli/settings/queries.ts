// What `kiln config get|list|path` answer, with how each reads as text. Shared by the oclif commands
// and the start-up fast path in bin/run.js, so both print the same bytes (through render.ts).
import { existsSync } from 'node:fs'
import type { Rendering } from '../render.js'
import { loadSettings } from './load.js'
import { settingsPath } from './location.js'
import {
  type ResolvedSetting,
  resolveAll,
  resolveSetting,
  type SettingSource,
  shownValue,
} from './resolve.js'
import { requireKey } from './values.js'

/** A setting's value (null when no source gives one; secrets redacted) and where it comes from. */
export interface SettingReport {
  value: unknown
  source: SettingSource
  from?: string
}

function settingReport(s: ResolvedSetting): SettingReport {
  return { value: shownValue(s), source: s.source, ...(s.from ? { from: s.from } : {}) }
}

export type ConfigGetReport = { key: string } & SettingReport

/** `kiln config get KEY`: the value (secrets redacted). */
export async function configGet(key: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigGetReport> {
  const k = requireKey(key) // an unknown key fails before the file is read
  const file = await loadSettings(settingsPath(env), env)
  const s = await resolveSetting(k, { env, file })
  return { key: s.key, ...settingReport(s) }
}

export const configGetRendering: Rendering<ConfigGetReport> = {
  // Nothing when no source gives a value.
  text: (r) => ({ out: r.value === null ? '' : `${String(r.value)}\n` }),
}

export interface ConfigListReport {
  path: string
  exists: boolean
  /** By key: the value, or with --sources the value and its source. */
  settings: Record<string, unknown>
}

/** `kiln config list`: every setting's value, and with `sources` where it comes from. */
export async function configList(
  sources: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConfigListReport> {
  const file = await loadSettings(settingsPath(env), env)
  const all = await resolveAll({ env, file })
  const settings = Object.fromEntries(all.map((s) => [s.key, sources ? settingReport(s) : shownValue(s)]))
  return { path: file.path, exists: file.exists, settings }
}

export const configListRendering: Rendering<ConfigListReport> = {
  text(r, { flags }) {
    const entries = Object.entries(r.settings)
    if (!flags.sources)
      return {
        out: entries
          .filter(([, v]) => v !== null)
          .map(([k, v]) => `${k} = ${String(v)}\n`)
          .join(''),
      }
    const rows = entries as [string, SettingReport][]
    const width = Math.max(...rows.map(([k]) => k.length))
    const shown = rows.map(([, s]) => (s.value === null ? '-' : String(s.value)))
    const vwidth = Math.max(...shown.map((v) => v.length))
    const source = (s: SettingReport) => (s.from ? `${s.source} ${s.from}` : s.source)
    return {
      out: rows.map(([k, s], i) => `${k.padEnd(width)}  ${shown[i].padEnd(vwidth)}  ${source(s)}\n`).join(''),
    }
  },
}

export interface ConfigPathReport {
  path: string
  exists: boolean
}

/** `kiln config path`: where the settings file is (whether or not it exists yet). */
export function configPath(env: NodeJS.ProcessEnv = process.env): ConfigPathReport {
  const path = settingsPath(env)
  return { path, exists: existsSync(path) }
}

export const configPathRendering: Rendering<ConfigPathReport> = {
  text: (r) => ({ out: `${r.path}\n` }),
}
