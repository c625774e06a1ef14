// The flat key table (`section.key`) derived from the schema. No zod here: this is what start-up
// reads (types.ts adds each key's zod type when a value must be checked).
import { type SettingDef, sections } from './schema.js'

export interface SettingKey extends SettingDef {
  /** Dotted name, e.g. `generate.max_new_tokens`. */
  key: string
  section: string
  name: string
  /** Environment variables that set it, highest precedence first (KILN_<SECTION>_<KEY> first). */
  envNames: string[]
}

let table: SettingKey[] | undefined

/** Every setting, in schema order. */
export function settingKeys(): SettingKey[] {
  table ??= Object.entries(sections).flatMap(([section, keys]) =>
    Object.entries(keys as Record<string, SettingDef>).map(([name, def]) => ({
      ...def,
      key: `${section}.${name}`,
      section,
      name,
      envNames: [`KILN_${section.toUpperCase()}_${name.toUpperCase()}`, ...(def.env ?? [])],
    })),
  )
  return table
}

export function findKey(key: string): SettingKey | undefined {
  return settingKeys().find((k) => k.key === key)
}

export const sectionNames = (): string[] => Object.keys(sections)
