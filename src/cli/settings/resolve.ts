// The value of each setting and where it came from: command-line flag > environment variable >
// settings file > built-in default.
import { UsageError } from '../../core/errors.js'
import { type SettingKey, settingKeys } from './keys.js'
import type { LoadedSettings } from './load.js'
import { redact } from './redact.js'
import { checkByRule } from './rules.js'
import { loadRulesTable, ruleKind } from './rules-table.js'
import { typedKey } from './types.js'
import { checkValue, fromText, requireKey } from './values.js'

export type SettingSource = 'flag' | 'env' | 'file' | 'default' | 'unset'

export interface ResolvedSetting {
  key: string
  /** undefined when no source gives a value (source 'unset'). */
  value: unknown
  source: SettingSource
  /** The flag, the environment variable or the file that gave the value. */
  from?: string
  secret: boolean
}

/** A value given on the command line, with the flag's name for messages. */
export interface FlagValue {
  flag: string
  value: unknown
}

export interface ResolveContext {
  env: NodeJS.ProcessEnv
  file: LoadedSettings
  /** Command-line values by dotted key. */
  flags?: Record<string, FlagValue | undefined>
}

/** Resolves one key. A bad flag or environment value is bad usage (exit 2) naming the flag or variable. */
export async function resolveSetting(
  key: string | SettingKey,
  ctx: ResolveContext,
): Promise<ResolvedSetting> {
  const k = typeof key === 'string' ? requireKey(key) : key
  const base = { key: k.key, secret: k.secret === true }
  const flag = ctx.flags?.[k.key]
  if (flag !== undefined && flag.value !== undefined) {
    // oclif has parsed the flag already; the schema still decides (ranges, enums).
    const t = await typedKey(k.key)
    const r = checkValue(t, typeof flag.value === 'string' ? fromText(t, flag.value) : flag.value)
    if (!r.ok) throw new UsageError(`${flag.flag}: ${r.problem}`)
    return { ...base, value: r.value, source: 'flag', from: flag.flag }
  }
  for (const name of k.envNames) {
    const text = ctx.env[name]
    // An empty variable is unset, as in the shell idiom `FOO= kiln …`.
    if (text === undefined || text === '') continue
    return { ...base, value: await envValue(k.key, name, text), source: 'env', from: name }
  }
  if (ctx.file.values.has(k.key))
    return { ...base, value: ctx.file.values.get(k.key), source: 'file', from: ctx.file.path }
  const value = k.default?.(ctx.env)
  if (value !== undefined) return { ...base, value, source: 'default' }
  return { ...base, value: undefined, source: 'unset' }
}

/** An environment variable's value for the key: by its rule when one vouches for it, else by zod. */
async function envValue(key: string, name: string, text: string): Promise<unknown> {
  const rule = loadRulesTable()?.rules[key]
  const quick = rule && checkByRule(rule, fromText({ kind: ruleKind(rule) }, text))
  if (quick) return quick.value
  const t = await typedKey(key)
  const r = checkValue(t, fromText(t, text))
  if (!r.ok) throw new UsageError(`${name}: ${r.problem}`)
  return r.value
}

/** Every setting, in schema order. */
export async function resolveAll(ctx: ResolveContext): Promise<ResolvedSetting[]> {
  const out: ResolvedSetting[] = []
  for (const k of settingKeys()) out.push(await resolveSetting(k, ctx))
  return out
}

/** The value as it may be shown: secrets redacted, unset as null. */
export function shownValue(s: ResolvedSetting): unknown {
  if (s.value === undefined) return null
  return s.secret ? redact(String(s.value)) : s.value
}
