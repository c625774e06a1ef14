// The rules of every setting (rules.ts), written next to the compiled modules at build time
// (scripts/write-derived.mjs) and read at start-up without zod. The table carries a hash of the
// code it was derived from; a missing or stale table is no table, and values then go to zod.
import { readFileSync, writeFileSync } from 'node:fs'
import { codeHash } from './code-hash.js'
import { type Rule, ruleFor } from './rules.js'
import { settingTypes, type TypedKey } from './types.js'

/** The modules the rules are derived from. */
const CODE = ['schema', 'types', 'rules']
const FILE = new URL('./settings-rules.json', import.meta.url)

export interface RulesTable {
  code: string
  /** By dotted key; a key whose type has no rule is absent. */
  rules: Record<string, Rule>
}

/** The table for this code (imports zod). */
export async function buildRulesTable(): Promise<RulesTable> {
  const { z } = await import('zod')
  const rules: Record<string, Rule> = {}
  for (const [key, t] of (await settingTypes()).keys) {
    const rule = ruleFor(z, t.zod)
    if (rule) rules[key] = rule
  }
  return { code: codeHash(CODE), rules }
}

export async function writeRulesTable(): Promise<void> {
  writeFileSync(FILE, `${JSON.stringify(await buildRulesTable())}\n`)
}

let table: RulesTable | null | undefined

/** The table written at build time, if it is there and was derived from this code. */
export function loadRulesTable(): RulesTable | undefined {
  if (table === undefined) {
    try {
      const t = JSON.parse(readFileSync(FILE, 'utf8')) as RulesTable
      table = t.code === codeHash(CODE) && t.rules ? t : null
    } catch {
      table = null
    }
  }
  return table ?? undefined
}

/** How a key reads text and YAML scalars (TypedKey's kind), from its rule. */
export function ruleKind(rule: Rule): TypedKey['kind'] {
  return rule.kind === 'url' ? 'string' : rule.kind
}
