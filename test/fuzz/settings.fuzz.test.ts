// Fuzz target settings: the settings file reader (src/cli/settings/load.ts's parseSettings, yaml and
// zod, which words every error) and the start-up subset reader (light-load.ts over simple-yaml.ts and
// the rules table, which never errs: it reads a file or says it cannot) over mutated valid files,
// random files of the sections and keys kiln knows with values of every kind, and hostile YAML (deep
// nesting, long keys and values, aliases, tags, documents, CRLF, tabs). The property: the full reader
// returns values or throws a one-line SettingsError, in bounded time and memory; the subset reader
// never throws, and when it reads a file it gives exactly the values the full reader gives. Pure
// JavaScript: in-process.
import fc from 'fast-check'
import * as yaml from 'yaml'
import { settingKeys } from '../../src/cli/settings/keys.js'
import { lightSettings } from '../../src/cli/settings/light-load.js'
import { parseSettings } from '../../src/cli/settings/load.js'
import { buildRulesTable } from '../../src/cli/settings/rules-table.js'
import { settingTypes } from '../../src/cli/settings/types.js'
import { SettingsError } from '../../src/core/errors.js'
import { caseText, FuzzFailure, fuzzTarget, jsonCodec, kiln } from './harness.js'
import { EDGE_NUMBERS, hostileString, mutatedText } from './mutate.js'

interface Case {
  /** The settings file's text. */
  text: string
}

const types = await settingTypes()
const { rules } = await buildRulesTable()
const keys = settingKeys()
const SECTIONS = [...new Set(keys.map((k) => k.section))]

// --- seeds: valid files -------------------------------------------------------------------------

const SEEDS = [
  'version: 1\n',
  '',
  '# kiln settings\nversion: 1\nruntime:\n  device: auto\n  threads: 4\n  dtype: bf16\n',
  'version: 1\nhub:\n  endpoint: https://huggingface.co\n  cache_dir: /tmp/hf\n  offline: false\n',
  "version: 1\ngenerate:\n  model: 'org/model'\n  max_new_tokens: 256\n  temperature: 0.7\n  top_p: 0.9\n  top_k: 40\n",
  'version: 1\nserve:\n  host: "127.0.0.1"\n  port: 8080\n  api_key: secret\n  context: 4096\n  max_seqs: 8\n  kv_memory: 2GiB\n  prefix_cache: true\n  engine: kiln\n',
  'version: 1\nfinetune:\n  engine: native\n  mixed_precision: bf16\n  num_processes: 2\nruntime: # none\nhub:\n',
  'version: 1\nruntime: {device: cpu, threads: 2}\nserve: {port: 0x1F90}\n',
  'version: 1\nserve:\n  port: 8080 # comment\n  host: localhost\n\n# trailing\n',
]

// --- random files of known sections and keys ----------------------------------------------------

/** A value as YAML text: valid ones for some key, edge numbers, hostile strings in every quoting. */
const VALUE_WORDS = [
  ...new Set(keys.flatMap((k) => types.keys.get(k.key)?.options ?? [])),
  'true',
  'false',
  'yes',
  'no',
  'null',
  '~',
  '',
  '0x10',
  '0o17',
  '1e3',
  '.inf',
  '-.inf',
  '.nan',
  '2GiB',
  'https://huggingface.co',
  'http://[::1]:8080/x',
  'ftp://x',
  '1_000',
  '+1',
  '-0',
  '00',
  '1.',
  '.5',
]
const quoted = (s: string, style: number) =>
  style === 0 ? s : style === 1 ? `'${s.replaceAll("'", "''")}'` : style === 2 ? JSON.stringify(s) : `"${s}"` // unescaped: may be bad YAML
const scalarText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALUE_WORDS) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_NUMBERS).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 3, arbitrary: fc.tuple(hostileString, fc.nat(3)).map(([s, q]) => quoted(s, q)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '[1, 2]',
      '{a: 1}',
      '- x',
      '|\n    block\n    text',
      '>\n    folded',
      '&a 1',
      '*a',
      '!!str 5',
      '!!int x',
      '!foo bar',
    ),
  },
)
const keyName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...keys.map((k) => k.name)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('threds', 'Threads', 'max-new-tokens', 'runtime.threads', '<<', 'version'),
  },
  { weight: 1, arbitrary: hostileString.map((s) => JSON.stringify(s)) },
)
const sectionName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SECTIONS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('runtim', 'RUNTIME', 'version', 'threads', '? runtime', 'runtime.device'),
  },
  { weight: 1, arbitrary: hostileString.map((s) => JSON.stringify(s)) },
)
const section = fc
  .tuple(
    sectionName,
    fc.array(fc.tuple(keyName, scalarText, fc.constantFrom('  ', '  ', ' ', '    ', '\t')), { maxLength: 6 }),
    fc.constantFrom('', ' # c', ' ~', ' {}', ' []', ' null'),
  )
  .map(([name, items, after]) =>
    items.length === 0
      ? `${name}:${after}\n`
      : `${name}:\n${items.map(([k, v, ind]) => `${ind}${k}: ${v}\n`).join('')}`,
  )
const randomFile = fc
  .tuple(
    fc.constantFrom('version: 1\n', 'version: 1\n', 'version: 2\n', "version: '1'\n", 'version: 1.0\n', ''),
    fc.array(section, { maxLength: 5 }),
    fc.boolean(),
  )
  .map(([version, sections, last]) => (last ? sections.join('') + version : version + sections.join('')))

// --- hostile structure -------------------------------------------------------------------------

const SIZES = [2, 10, 100, 1000, 3000, 10_000, 100_000]
const size = fc.constantFrom(...SIZES)
const hostile = fc.oneof(
  // Deep nesting: flow, block and explicit keys.
  size.map(
    (n) =>
      `version: 1\nruntime:\n  threads: ${'['.repeat(Math.min(n, 20_000))}${']'.repeat(Math.min(n, 20_000))}\n`,
  ),
  size.map(
    (n) => `version: 1\n? ${'{a: '.repeat(Math.min(n, 3000))}1${'}'.repeat(Math.min(n, 3000))}\n: 1\n`,
  ),
  size.map((n) =>
    Array.from({ length: Math.min(n, 3000) }, (_, i) => `${' '.repeat(i)}a:`)
      .join('\n')
      .concat('\nversion: 1\n'),
  ),
  size.map((n) => `version: 1\n${'- '.repeat(Math.min(n, 3000))}x\n`),
  // Long names and values (an explicit key has no length limit).
  fc
    .tuple(size, fc.constantFrom('x', 'runtime', 'a\n', 'é'))
    .map(([n, u]) => `version: 1\n? ${JSON.stringify(u.repeat(n))}\n: 1\n`),
  fc
    .tuple(size, fc.constantFrom(...SECTIONS))
    .map(([n, s]) => `version: 1\n${s}:\n  ? ${'threads'.repeat(n)}\n  : 1\n`),
  fc.tuple(size, fc.constantFrom(...keys.map((k) => k.key))).map(([n, key]) => {
    const [s, k] = key.split('.')
    return `version: 1\n${s}:\n  ${k}: ${JSON.stringify('x\n'.repeat(n))}\n`
  }),
  // Many keys, many sections, many documents.
  size.map(
    (n) =>
      `version: 1\nruntime:\n${Array.from({ length: Math.min(n, 10_000) }, (_, i) => `  k${i}: ${i}\n`).join('')}`,
  ),
  size.map((n) => `version: 1\n${'---\nversion: 1\n'.repeat(Math.min(n, 10_000))}`),
  // Aliases: a billion laughs (yaml expands nothing here unless asked), merge keys, alias keys.
  fc.constant(
    'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nversion: 1\nruntime: *c\n',
  ),
  fc.constant('version: 1\nbase: &b {device: cpu}\nruntime:\n  <<: *b\n  threads: 2\n'),
  fc.constant('version: 1\n&k runtime:\n  device: cpu\n*k : 1\n'),
  fc.constant('%YAML 1.1\n---\nversion: 1\nruntime:\n  device: !!binary aGk=\n'),
)

// --- mutated files -----------------------------------------------------------------------------

const PIECES = [
  ':',
  ': ',
  '\n',
  '\r\n',
  '\t',
  ' ',
  '  ',
  '#',
  '- ',
  '? ',
  '[',
  ']',
  '{',
  '}',
  ',',
  "'",
  '"',
  '\\',
  '&a ',
  '*a',
  '!!str ',
  '!!map ',
  '|',
  '>',
  '---\n',
  '...\n',
  '%YAML 1.2\n',
  '\uFEFF',
  '\u2028',
  '\u0085',
  '\0',
  'version: 1\n',
  'runtime:\n',
  '  threads: 0\n',
  '<<: ',
  '.inf',
  '1e999',
  '9007199254740993',
]
const mutated = mutatedText(SEEDS, fc.oneof(fc.constantFrom(...PIECES), scalarText, hostileString), {
  span: 12,
  maxEdits: 5,
})

const arbitrary: fc.Arbitrary<Case> = fc
  .oneof(
    { weight: 4, arbitrary: mutated },
    { weight: 4, arbitrary: randomFile },
    { weight: 1, arbitrary: hostile },
    { weight: 1, arbitrary: fc.constantFrom(...SEEDS) },
  )
  .map((text) => ({ text }))

// --- the property --------------------------------------------------------------------------------

const sameValues = (a: Map<string, unknown>, b: Map<string, unknown>) =>
  a.size === b.size && [...a].every(([k, v]) => b.has(k) && Object.is(b.get(k), v))

fuzzTarget<Case>({
  target: 'settings',
  arbitrary,
  caseMs: 5_000,
  ciMs: 5_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) =>
    caseText(c.text.length > 2000 ? `${c.text.slice(0, 2000)}… (${c.text.length} chars)` : c.text),
  run(c) {
    const full = kiln(() => parseSettings(yaml, types, c.text, 'kiln.yaml').values)
    if (!full.ok && !(full.error instanceof SettingsError))
      throw new FuzzFailure(
        `threw ${full.error.constructor.name}, not a SettingsError: ${full.error.message}`,
        'exception',
      )
    // The subset reader never throws: it reads a file, or leaves it to the full reader.
    let light: Map<string, unknown> | undefined
    try {
      light = lightSettings(c.text, rules)
    } catch (e) {
      throw new FuzzFailure(`the subset reader threw ${(e as Error)?.stack ?? String(e)}`, 'exception')
    }
    if (light) {
      if (!full.ok)
        throw new FuzzFailure(
          `the subset reader read a file the full reader refuses: ${full.error.message}`,
          'answer',
        )
      if (!sameValues(light, full.value))
        throw new FuzzFailure(
          `the subset reader read ${JSON.stringify([...light])}, the full reader ${JSON.stringify([...full.value])}`,
          'answer',
        )
      return 'read by the subset reader'
    }
    return full.ok ? 'read' : 'refused'
  },
})
