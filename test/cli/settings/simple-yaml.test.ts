// The start-up reader for settings files (simple-yaml.ts + light-load.ts) against the real one
// (yaml + zod, load.ts): on thousands of generated files, hand-edit style, whenever the light reader
// gives values they are exactly the full reader's, and it gives values for the files kiln writes.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as yaml from 'yaml'
import { lightSettings } from '../../../src/cli/settings/light-load.js'
import { parseSettings } from '../../../src/cli/settings/load.js'
import { buildRulesTable } from '../../../src/cli/settings/rules-table.js'
import { readSimpleYaml, type SimpleDocument } from '../../../src/cli/settings/simple-yaml.js'
import { settingTypes } from '../../../src/cli/settings/types.js'
import { editSettings, writeSettings } from '../../../src/cli/settings/write.js'
import { sandbox } from '../../helpers/settings-sandbox.js'

/** Scalars as a person might write them, inside and outside the subset. */
const VALUES = [
  ...['1', '0', '-1', '+5', '007', '0o17', '0x1F', '0x', '1.5', '.5', '5.', '1e3', '-1.5e-3', '0.5 # half'],
  ...['.inf', '-.inf', '.nan', '1_000', '12345678901234567890', '9007199254740993', '65535', '65536', '-0'],
  ...['true', 'True', 'TRUE', 'tRue', 'false', 'yes', 'no', 'on', 'null', '~', 'Null', 'NULL', ''],
  ...['auto', 'cpu', 'cuda', 'bf16', 'f32', 'native', 'accelerate', 'fp16', 'hf_abc', '0.0', '1.0'],
  ...['https://huggingface.co', 'http://localhost:8080', 'https://hf-mirror.com/', 'HTTP://X.Y', 'ftp://x'],
  ...['http:x', 'http://a b', 'http://[::1]:80', 'http://x:99999', 'https://a.b/c?d=1', 'https://-x.y'],
  ...["'quoted'", "''", "'it''s'", "'a' # c", "'x' junk", "'open", '"dq"', '""', '"a\\nb"', '"x" # c'],
  ...['"x"y', 'a #b', 'a#b', 'a # b', 'a: b', 'a:', 'a:b', '-x', '- x', '?x', ':x', '[1]', '{a: 1}'],
  ...['&a x', '*a', '!!str 1', '|', '>', '@x', '`x`', '%x', 'a,b', 'a[b]', 'é', 'über', '\u00a0x', 'x  '],
  ...['./models/Qwen2-0.5B', '/abs/path', '~/x', 'C:\\m', '0.0.0.0', '127.0.0.1', 'a b c', '# only'],
]
const SECTIONS = ['runtime', 'hub', 'generate', 'serve', 'finetune']
const ODD_LINES = ['---', '...', '- x', '\tx: 1', 'key', 'a: b: c', '%YAML 1.2', 'x:\r', '  # indented', '#c']

/** A small seeded generator, so a failure names a file that can be made again. */
function rng(seed: number) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

async function generatedFiles(count: number, seed = 12345): Promise<string[]> {
  const keysBySection = new Map<string, string[]>()
  for (const key of (await settingTypes()).keys.keys()) {
    const [section, name] = key.split('.')
    keysBySection.set(section, [...(keysBySection.get(section) ?? []), name])
  }
  const r = rng(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]
  const files: string[] = []
  for (let i = 0; i < count; i++) {
    const lines: string[] = []
    if (r() < 0.9)
      lines.push(
        pick([
          'version: 1',
          'version: 1',
          'version: 1 # v',
          'version: 2',
          "version: '1'",
          'version: 1.0',
          'version:',
        ]),
      )
    for (let s = Math.floor(r() * 4); s > 0; s--) {
      const section = r() < 0.93 ? pick(SECTIONS) : pick(['runtim', 'other', 'Runtime', 'true'])
      lines.push(
        pick([
          `${section}:`,
          `${section}:`,
          `${section}: # c`,
          `${section}: ~`,
          `${section}:#x`,
          `${section}: {}`,
        ]),
      )
      const indent = ' '.repeat(pick([2, 2, 2, 4, 1]))
      for (let k = Math.floor(r() * 4); k > 0; k--) {
        const name = r() < 0.92 ? pick(keysBySection.get(section) ?? ['x']) : pick(['thread', 'x', 'True'])
        const value = pick(VALUES)
        const pad = r() < 0.1 ? ' '.repeat(pick([1, 3])) : ''
        lines.push(`${r() < 0.05 ? ' ' : indent}${name}:${value === '' ? '' : ` ${pad}${value}`}`)
      }
    }
    if (r() < 0.15) lines.splice(Math.floor(r() * (lines.length + 1)), 0, pick(ODD_LINES))
    if (r() < 0.15) lines.splice(Math.floor(r() * (lines.length + 1)), 0, pick(['', '# note', '   # note']))
    files.push(lines.join('\n') + (r() < 0.8 ? '\n' : ''))
  }
  return files
}

/** What yaml makes of a document the simple reader accepted, in the simple reader's shape. */
function asPlain(doc: SimpleDocument): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, s] of doc.scalars) out[k] = s.value
  for (const [k, keys] of doc.sections)
    out[k] = keys === null ? null : Object.fromEntries([...keys].map(([n, s]) => [n, s.value]))
  return out
}

describe('the start-up settings reader agrees with yaml and zod', () => {
  it('on generated files: whatever it accepts, the full reader reads the same', async () => {
    const [types, { rules }] = await Promise.all([settingTypes(), buildRulesTable()])
    const files = await generatedFiles(4000)
    let accepted = 0
    let valid = 0
    for (const text of files) {
      const simple = readSimpleYaml(text)
      if (simple) {
        const parsed = yaml.parseDocument(text, { uniqueKeys: true })
        expect(parsed.errors, text).toEqual([])
        // toEqual tells -0 from 0 and 1 from '1'.
        expect(asPlain(simple), text).toEqual(parsed.toJS() ?? {})
      }
      let full: Map<string, unknown> | undefined
      try {
        full = parseSettings(yaml, types, text, 'f').values
        valid++
      } catch {}
      const light = lightSettings(text, rules)
      if (light === undefined) continue
      accepted++
      expect(full, text).toBeDefined()
      expect([...light], text).toEqual([...(full ?? [])])
    }
    // The light reader must carry most valid files, or start-up is not what the bench says.
    expect(valid).toBeGreaterThan(300)
    expect(accepted / valid).toBeGreaterThan(0.6)
  })

  it('reads every file kiln writes', async () => {
    const { rules } = await buildRulesTable()
    const s = sandbox()
    s.write('# my settings\nversion: 1\n')
    const edits: [string, unknown][] = [
      ['runtime.threads', 3],
      ['runtime.device', 'cpu'],
      ['hub.endpoint', 'https://hf-mirror.com'],
      ['hub.token', 'hf_abcdefghijklmnop'],
      ['hub.offline', true],
      ['hub.cache_dir', '/data/hf cache/hub'],
      ['generate.model', './models/Qwen2-0.5B-Instruct'],
      ['generate.temperature', 0.7],
      ['generate.top_p', 1],
      ['serve.host', '0.0.0.0'],
      ['serve.api_key', '12345'],
      ['serve.port', 8081],
      ['finetune.mixed_precision', 'bf16'],
    ]
    // `config set`, one key at a time, keeping the comment …
    const expected = new Map<string, unknown>()
    for (const [key, value] of edits) {
      await editSettings(s.file, new Map([[key, value]]))
      expected.set(key, value)
      const text = readFileSync(s.file, 'utf8')
      expect(Object.fromEntries(lightSettings(text, rules) ?? []), text).toEqual(Object.fromEntries(expected))
    }
    // … and the wizard and `config default`, all at once.
    await writeSettings(s.file, expected, true)
    const text = readFileSync(s.file, 'utf8')
    expect(Object.fromEntries(lightSettings(text, rules) ?? []), text).toEqual(Object.fromEntries(expected))
  })
})
