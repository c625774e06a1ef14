// Each key's zod type, built on first need (zod is imported here and nowhere at start-up), with what
// it allows in words and how text (env, `config set`, the wizard) becomes a value.
import type { z as Z } from 'zod'
import { type SettingKey, settingKeys } from './keys.js'
import { settingsFileSchema } from './schema.js'

export interface TypedKey extends SettingKey {
  zod: Z.ZodType
  kind: 'enum' | 'integer' | 'number' | 'boolean' | 'string'
  /** Enum values, for the wizard's selects and for messages. */
  options?: string[]
  /** What a valid value is, in words: "an integer ≥ 1", "one of auto, cpu, cuda". */
  allowed: string
}

export interface SettingTypes {
  keys: Map<string, TypedKey>
  file: Z.ZodType
}

interface JsonSchemaLike {
  type?: string
  enum?: string[]
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  format?: string
}

/** Words for a key's JSON schema (derived from zod, so the text cannot drift from the validation). */
function describe(s: JsonSchemaLike): string {
  if (s.enum) return `one of ${s.enum.join(', ')}`
  if (s.type === 'integer' || s.type === 'number') {
    const what = s.type === 'integer' ? 'an integer' : 'a number'
    const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined
    const lo =
      s.exclusiveMinimum !== undefined
        ? `> ${s.exclusiveMinimum}`
        : s.minimum !== undefined
          ? `≥ ${s.minimum}`
          : ''
    const hi =
      s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : max !== undefined ? `≤ ${max}` : ''
    return [what, lo, hi && lo ? `and ${hi}` : hi].filter(Boolean).join(' ')
  }
  if (s.type === 'boolean') return 'true or false'
  if (s.format === 'uri') return 'an http:// or https:// URL'
  return 'a non-empty string'
}

let loaded: SettingTypes | undefined

export async function settingTypes(): Promise<SettingTypes> {
  if (loaded) return loaded
  const { z } = await import('zod')
  const keys = new Map<string, TypedKey>()
  for (const k of settingKeys()) {
    const zod = k.type(z)
    const json = z.toJSONSchema(zod) as JsonSchemaLike
    const kind = json.enum
      ? 'enum'
      : json.type === 'integer' || json.type === 'number' || json.type === 'boolean'
        ? json.type
        : 'string'
    keys.set(k.key, { ...k, zod, kind, options: json.enum, allowed: describe(json) })
  }
  loaded = { keys, file: settingsFileSchema(z) }
  return loaded
}

/** One key's type (the key must exist: check with requireKey first). */
export async function typedKey(key: string): Promise<TypedKey> {
  const t = (await settingTypes()).keys.get(key)
  if (!t) throw new Error(`settings: no type for ${key}`)
  return t
}
