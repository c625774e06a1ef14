// Checking one setting's value against the schema, from text (env, `config set`, the wizard) or from
// YAML, with a message that names the key and says what is allowed.
import { UsageError } from '../../core/errors.js'
import { shown } from '../../core/util/shown.js'
import { findKey, type SettingKey, settingKeys } from './keys.js'
import { didYouMean } from './suggest.js'
import type { TypedKey } from './types.js'

/** The key's definition; an unknown key is bad usage, with the nearest key when there is one. */
export function requireKey(key: string): SettingKey {
  const k = findKey(key)
  if (k) return k
  const keys = settingKeys().map((s) => s.key)
  const hint = didYouMean(key, keys)
  throw new UsageError(`unknown setting "${key}"${hint || ` (settings: ${keys.join(', ')})`}`)
}

/** Text as the key's type: numbers for numeric keys (so "1.5" fails an integer key as 1.5 would). */
export function fromText(k: Pick<TypedKey, 'kind'>, text: string): unknown {
  if (k.kind === 'boolean') {
    // The spellings huggingface_hub accepts for HF_HUB_OFFLINE and friends.
    const t = text.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(t)) return true
    if (['0', 'false', 'no', 'off'].includes(t)) return false
    return text
  }
  if (k.kind !== 'integer' && k.kind !== 'number') return text
  const t = text.trim()
  const n = Number(t)
  return t === '' || !Number.isFinite(n) ? text : n
}

/**
 * A YAML scalar as the key reads it: for string keys, a number or boolean is the text as written
 * (`api_key: 12345` or `host: 10` are strings to a person writing YAML by hand).
 */
export function scalarForKind(kind: TypedKey['kind'], value: unknown, source: string | undefined): unknown {
  if (kind === 'string' && (typeof value === 'number' || typeof value === 'boolean'))
    return source ?? String(value)
  return value
}

export type Checked = { ok: true; value: unknown } | { ok: false; problem: string }

/** The value if the key's schema accepts it, else the message ("runtime.threads must be … (got 0)"). */
export function checkValue(k: TypedKey, value: unknown): Checked {
  const r = k.zod.safeParse(value)
  if (r.success) return { ok: true, value: r.data }
  const got = k.secret && value !== '' ? 'a hidden value' : shown(value)
  const hint = k.kind === 'enum' ? didYouMean(String(value), k.options ?? []) : ''
  return { ok: false, problem: `${k.key} must be ${k.allowed} (got ${got})${hint}` }
}

/** Parses `text` for the key or throws a UsageError prefixed with where the text came from. */
export function parseText(k: TypedKey, text: string, where?: string): unknown {
  const r = checkValue(k, fromText(k, text))
  if (r.ok) return r.value
  throw new UsageError(where ? `${where}: ${r.problem}` : r.problem)
}
