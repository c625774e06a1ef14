// Reading a settings file: YAML with every problem reported as `path:line: …` (syntax, unknown
// sections and keys with a "did you mean", bad values saying what is allowed, the version).
import { readFileSync } from 'node:fs'
import type { Document, LineCounter, Scalar, YAMLMap, Node as YamlNode } from 'yaml'
import { SettingsError } from '../../core/errors.js'
import { quote, shown } from '../../core/util/shown.js'
import { cachedValues, rememberValues } from './file-cache.js'
import { sectionNames, settingKeys } from './keys.js'
import { lightSettings, MAX_SETTINGS_CHARS } from './light-load.js'
import { loadRulesTable, type RulesTable } from './rules-table.js'
import { SETTINGS_VERSION } from './schema.js'
import { didYouMean } from './suggest.js'
import { type SettingTypes, settingTypes } from './types.js'
import { checkValue, scalarForKind } from './values.js'

export interface LoadedSettings {
  path: string
  exists: boolean
  /** Valid values by dotted key. */
  values: Map<string, unknown>
}

type Yaml = typeof import('yaml')

/** yaml is loaded only when a file has to be parsed, so start-up does not pay for it. */
export function loadYaml(): Promise<Yaml> {
  return import('yaml')
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    throw new SettingsError(`${path}: cannot read the settings file (${code ?? String(e)})`)
  }
}

/**
 * Loads and validates the settings file at `path`; a missing file is an empty one. Start-up cost
 * decides the order: values validated before for this very text (file-cache.ts), else the subset
 * reader with the build-time rules (light-load.ts), else yaml and zod, which alone give errors.
 */
export async function loadSettings(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  rules: RulesTable | undefined = loadRulesTable(),
): Promise<LoadedSettings> {
  const text = readText(path)
  if (text === undefined) return { path, exists: false, values: new Map() }
  const cached = cachedValues(text, env)
  if (cached) return { path, exists: true, values: cached }
  let values = rules && lightSettings(text, rules.rules)
  if (!values) {
    const [yaml, types] = await Promise.all([loadYaml(), settingTypes()])
    values = parseSettings(yaml, types, text, path).values
  }
  rememberValues(text, values, env)
  return { path, exists: true, values }
}

/** The file as an editable document (comments kept); a missing file gives no document. */
export async function loadSettingsDocument(
  path: string,
): Promise<{ exists: boolean; doc?: Document; values: Map<string, unknown> }> {
  const text = readText(path)
  if (text === undefined) return { exists: false, values: new Map() }
  const [yaml, types] = await Promise.all([loadYaml(), settingTypes()])
  return { exists: true, ...parseSettings(yaml, types, text, path) }
}

/** Parses and validates settings text; `path` is only for messages. */
export function parseSettings(
  yaml: Yaml,
  types: SettingTypes,
  text: string,
  path: string,
): { values: Map<string, unknown>; doc: Document } {
  if (text.length > MAX_SETTINGS_CHARS)
    throw new SettingsError(
      `${path}: the file is ${text.length} characters long; a settings file may have at most ${MAX_SETTINGS_CHARS}`,
    )
  const lines = new yaml.LineCounter()
  // Duplicate keys are looked for below, with a set: yaml's own check (uniqueKeys) compares every
  // key of a mapping with every other, and a hostile file of 10,000 keys takes seconds.
  const doc = yaml.parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: false })
  const first = doc.errors[0]
  if (first) {
    const at = first.linePos?.[0]
    const what = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
    throw new SettingsError(`${path}:${at ? at.line : 1}: ${what}`)
  }
  const values = new Map<string, unknown>()
  const contents = doc.contents
  if (contents === null || (yaml.isScalar(contents) && contents.value === null)) return { values, doc }
  const fail = (node: unknown, message: string): never => {
    throw new SettingsError(`${path}:${lineOf(node as YamlNode, lines)}: ${message}`)
  }
  if (!yaml.isMap(contents))
    return fail(contents, 'expected a mapping of sections (version:, runtime:, hub:, …)')
  // yaml's message, at the second of two equal keys (scalars equal as yaml compares them).
  const uniqueKeys = (map: YAMLMap) => {
    const seen = new Set<unknown>()
    for (const pair of map.items) {
      if (!yaml.isScalar(pair.key) || Number.isNaN(pair.key.value)) continue
      if (seen.has(pair.key.value)) fail(pair.key, 'Map keys must be unique')
      seen.add(pair.key.value)
    }
  }
  uniqueKeys(contents as YAMLMap)
  const sections = sectionNames()
  const allKeys = settingKeys().map((k) => k.key)
  const isNull = (n: unknown) => n === null || (yaml.isScalar(n) && n.value === null)
  // A key that is a list or a mapping (`? [a, b]`) is no name: it is shown by its kind, not spelled
  // out (yaml would print it recursively, however deep and long).
  const nameOf = (n: unknown) =>
    yaml.isScalar(n)
      ? String(n.value)
      : yaml.isMap(n)
        ? '{…}'
        : yaml.isSeq(n)
          ? '[…]'
          : yaml.isAlias(n)
            ? `*${n.source}`
            : String(n)
  let hasVersion = false
  for (const pair of (contents as YAMLMap).items) {
    const name = nameOf(pair.key)
    if (name === 'version') {
      const v = yaml.isScalar(pair.value) ? pair.value.value : undefined
      if (v !== SETTINGS_VERSION)
        fail(
          pair.value ?? pair.key,
          `version ${shown(v)} is not one this kiln reads (it reads version ${SETTINGS_VERSION})`,
        )
      hasVersion = true
      continue
    }
    if (!sections.includes(name)) {
      const near = didYouMean(name, name.includes('.') ? allKeys : [...sections, ...allKeys])
      fail(pair.key, `unknown section ${quote(name)}${near || ` (sections: ${sections.join(', ')})`}`)
    }
    if (isNull(pair.value)) continue
    if (!yaml.isMap(pair.value)) fail(pair.value, `${quote(name)} must be a mapping of its settings`)
    uniqueKeys(pair.value as YAMLMap)
    for (const item of (pair.value as YAMLMap).items) {
      const key = `${name}.${nameOf(item.key)}`
      const k = types.keys.get(key)
      if (!k) return fail(item.key, `unknown setting ${quote(key)}${didYouMean(key, allKeys)}`)
      if (isNull(item.value)) continue // `key:` alone leaves it unset
      if (!yaml.isScalar(item.value))
        fail(item.value, `${key} must be ${k.allowed} (got a ${yaml.isMap(item.value) ? 'mapping' : 'list'})`)
      const scalar = item.value as Scalar
      const r = checkValue(k, scalarForKind(k.kind, scalar.value, scalar.source))
      if (!r.ok) return fail(scalar, r.problem)
      values.set(key, r.value)
    }
  }
  if (!hasVersion) fail(contents, `missing "version: ${SETTINGS_VERSION}"`)
  // The checks above give the messages; the whole-file schema is the final word.
  const obj: Record<string, Record<string, unknown> | number> = { version: SETTINGS_VERSION }
  for (const [key, value] of values) {
    const [section, name] = key.split('.')
    obj[section] = { ...(obj[section] as Record<string, unknown> | undefined), [name]: value }
  }
  const whole = types.file.safeParse(obj)
  if (!whole.success) fail(contents, whole.error.issues[0]?.message ?? 'invalid settings')
  return { values, doc }
}

function lineOf(node: YamlNode | null | undefined, lines: LineCounter): number {
  const offset = node?.range?.[0]
  return offset === undefined ? 1 : lines.linePos(offset).line
}
