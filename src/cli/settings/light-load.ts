// Reading a settings file without yaml and zod: the subset reader (simple-yaml.ts) and the rules
// table (rules-table.ts). It only accepts: any file or value it cannot vouch for gives undefined and
// goes to the full reader (load.ts), which gives the same values or the error message.
import { settingKeys } from './keys.js'
import { checkByRule, type Rule } from './rules.js'
import { ruleKind } from './rules-table.js'
import { SETTINGS_VERSION } from './schema.js'
import { readSimpleYaml } from './simple-yaml.js'
import { scalarForKind } from './values.js'

/**
 * The longest settings file kiln reads, in characters. A real one is a few hundred; yaml takes
 * seconds over megabytes of hostile text (nesting, thousands of keys).
 */
export const MAX_SETTINGS_CHARS = 256 * 1024

/** Valid values by dotted key, exactly as load.ts's parseSettings gives them, or undefined. */
export function lightSettings(text: string, rules: Record<string, Rule>): Map<string, unknown> | undefined {
  if (text.length > MAX_SETTINGS_CHARS) return undefined // the full reader refuses it
  const doc = readSimpleYaml(text)
  if (!doc) return undefined
  const values = new Map<string, unknown>()
  if (doc.scalars.size === 0 && doc.sections.size === 0) return values // an empty file is no settings
  if (doc.scalars.size !== 1 || doc.scalars.get('version')?.value !== SETTINGS_VERSION) return undefined
  const known = new Set(settingKeys().map((k) => k.section))
  for (const [section, keys] of doc.sections) {
    if (!known.has(section)) return undefined
    for (const [name, scalar] of keys ?? []) {
      const key = `${section}.${name}`
      const rule = rules[key] as Rule | undefined
      if (!rule) return undefined // an unknown key, or one only zod can check
      if (scalar.value === null) continue // `key:` alone leaves it unset
      const checked = checkByRule(rule, scalarForKind(ruleKind(rule), scalar.value, scalar.source))
      if (!checked) return undefined
      values.set(key, checked.value)
    }
  }
  return values
}
