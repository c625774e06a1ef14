// The settings core on real files: the schema's keys, precedence flag > env > file > default with
// sources, YAML errors with path and line, unknown keys and bad values with what is allowed, the
// validated-file cache, redaction.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { settingsCachePath } from '../../../src/cli/settings/file-cache.js'
import {
  editSettings,
  loadSettings,
  redact,
  resolveSetting,
  settingKeys,
  settingsPath,
  settingTypes,
} from '../../../src/cli/settings/index.js'
import { nearest } from '../../../src/cli/settings/suggest.js'
import { SettingsError, UsageError } from '../../../src/core/errors.js'
import { ROOT, removeTempDirs, runKiln } from '../../helpers/cli.js'
import { sandbox } from '../../helpers/settings-sandbox.js'

afterAll(removeTempDirs)

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected an error')
}

describe('schema', () => {
  it('has every key the issue names, with env names and help', async () => {
    const keys = settingKeys().map((k) => k.key)
    for (const k of [
      'runtime.device',
      'runtime.threads',
      'runtime.dtype',
      'hub.endpoint',
      'hub.cache_dir',
      'hub.token',
      'generate.model',
      'generate.max_new_tokens',
      'generate.temperature',
      'generate.top_p',
      'generate.top_k',
      'serve.host',
      'serve.port',
      'serve.api_key',
      'finetune.engine',
      'finetune.mixed_precision',
      'finetune.num_processes',
    ])
      expect(keys).toContain(k)
    for (const k of settingKeys()) {
      expect(k.help.length).toBeGreaterThan(10)
      expect(k.envNames[0]).toBe(`KILN_${k.section.toUpperCase()}_${k.name.toUpperCase()}`)
    }
    const secrets = settingKeys()
      .filter((k) => k.secret)
      .map((k) => k.key)
    expect(secrets.sort()).toEqual(['hub.token', 'serve.api_key'])
    const types = await settingTypes()
    expect(types.keys.get('runtime.device')?.options).toEqual(['auto', 'cpu', 'cuda'])
    expect(types.keys.get('runtime.threads')?.allowed).toBe('an integer ≥ 1')
    expect(types.keys.get('serve.port')?.allowed).toBe('an integer ≥ 1 and ≤ 65535')
    expect(types.keys.get('generate.top_p')?.allowed).toBe('a number > 0 and ≤ 1')
  })

  it('is documented: docs/config.md has every key with its variables', () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'config.md'), 'utf8')
    for (const k of settingKeys()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${k.key}\` |`))
      expect(row, k.key).toBeDefined()
      for (const e of k.envNames) expect(row).toContain(`\`${e}\``)
    }
  })

  it('finds the file at $KILN_CONFIG, else $XDG_CONFIG_HOME/kiln, else ~/.config/kiln', () => {
    expect(settingsPath({ KILN_CONFIG: '/x/k.yaml', XDG_CONFIG_HOME: '/c' })).toBe('/x/k.yaml')
    expect(settingsPath({ XDG_CONFIG_HOME: '/c' })).toBe('/c/kiln/config.yaml')
    expect(settingsPath({ XDG_CONFIG_HOME: 'relative' })).toBe(
      path.join(os.homedir(), '.config/kiln/config.yaml'),
    )
    expect(settingsPath({})).toBe(path.join(os.homedir(), '.config/kiln/config.yaml'))
  })
})

describe('precedence: flag > env > file > default', () => {
  it('takes each source in turn for runtime.threads and generate.temperature', async () => {
    const s = sandbox()
    const resolve = async (key: string, env: NodeJS.ProcessEnv, flag?: unknown) => {
      const file = await loadSettings(s.file, env)
      return resolveSetting(key, { env, file, flags: { [key]: { flag: '--x', value: flag } } })
    }
    // default only
    let r = await resolve('runtime.threads', s.env)
    expect([r.value, r.source]).toEqual([os.availableParallelism(), 'default'])
    r = await resolve('generate.temperature', s.env)
    expect([r.value, r.source]).toEqual([undefined, 'unset'])
    // file over default
    s.write('version: 1\nruntime:\n  threads: 3\ngenerate:\n  temperature: 0.5\n')
    r = await resolve('runtime.threads', s.env)
    expect([r.value, r.source, r.from]).toEqual([3, 'file', s.file])
    r = await resolve('generate.temperature', s.env)
    expect([r.value, r.source]).toEqual([0.5, 'file'])
    // env over file
    const env = { ...s.env, KILN_RUNTIME_THREADS: '5', KILN_GENERATE_TEMPERATURE: '0.25' }
    r = await resolve('runtime.threads', env)
    expect([r.value, r.source, r.from]).toEqual([5, 'env', 'KILN_RUNTIME_THREADS'])
    r = await resolve('generate.temperature', env)
    expect([r.value, r.source]).toEqual([0.25, 'env'])
    // flag over env
    r = await resolve('runtime.threads', env, 7)
    expect([r.value, r.source, r.from]).toEqual([7, 'flag', '--x'])
    // an empty variable is unset
    r = await resolve('runtime.threads', { ...s.env, KILN_RUNTIME_THREADS: '' })
    expect(r.source).toBe('file')
  })

  it('reads the Hugging Face variables, after the KILN_ ones', async () => {
    const s = sandbox()
    s.write('version: 1\nhub:\n  endpoint: https://file.example\n')
    const file = await loadSettings(s.file, s.env)
    const at = (key: string, env: NodeJS.ProcessEnv) =>
      resolveSetting(key, { env: { ...s.env, ...env }, file })
    expect((await at('hub.endpoint', {})).value).toBe('https://file.example')
    expect((await at('hub.endpoint', { HF_ENDPOINT: 'https://hf.example' })).value).toBe('https://hf.example')
    const both = await at('hub.endpoint', {
      HF_ENDPOINT: 'https://hf.example',
      KILN_HUB_ENDPOINT: 'https://k.example',
    })
    expect([both.value, both.from]).toEqual(['https://k.example', 'KILN_HUB_ENDPOINT'])
    expect((await at('hub.token', { HF_TOKEN: 'hf_secret_value_123456' })).value).toBe(
      'hf_secret_value_123456',
    )
    expect((await at('hub.offline', { HF_HUB_OFFLINE: '1' })).value).toBe(true)
    expect((await at('hub.cache_dir', {})).value).toBe(path.join(s.env.HF_HOME!, 'hub'))
    expect((await at('hub.cache_dir', { HF_HUB_CACHE: '/cache' })).value).toBe('/cache')
    // huggingface-cli login's token file is the default token
    expect((await at('hub.token', {})).source).toBe('unset')
    mkdirSync(s.env.HF_HOME!, { recursive: true })
    writeFileSync(path.join(s.env.HF_HOME!, 'token'), 'hf_fromthetokenfile_9876\n')
    expect(await at('hub.token', {})).toMatchObject({ value: 'hf_fromthetokenfile_9876', source: 'default' })
  })

  it('refuses a bad environment value, naming the variable and what is allowed (usage, exit 2)', async () => {
    const s = sandbox()
    const file = await loadSettings(s.file, s.env)
    const e = await errorOf(
      resolveSetting('runtime.device', { env: { ...s.env, KILN_RUNTIME_DEVICE: 'gpu' }, file }),
    )
    expect(e).toBeInstanceOf(UsageError)
    expect(e.message).toBe(
      'KILN_RUNTIME_DEVICE: runtime.device must be one of auto, cpu, cuda (got "gpu"); did you mean "cpu"?',
    )
    const t = await errorOf(
      resolveSetting('runtime.threads', { env: { ...s.env, KILN_RUNTIME_THREADS: '1.5' }, file }),
    )
    expect(t.message).toBe('KILN_RUNTIME_THREADS: runtime.threads must be an integer ≥ 1 (got 1.5)')
  })
})

describe('bad files name the path and the line', () => {
  const cases: [string, string, RegExp][] = [
    ['YAML syntax', 'version: 1\nruntime:\n  threads: [1, 2\n', /:4: .*flow sequence/i],
    ['a duplicate key', 'version: 1\nruntime:\n  threads: 1\n  threads: 2\n', /:4: Map keys must be unique/],
    [
      'an unknown key',
      'version: 1\nruntime:\n  thread: 2\n',
      /:3: unknown setting "runtime.thread"; did you mean "runtime.threads"\?$/,
    ],
    [
      'an unknown section',
      'version: 1\nruntim:\n  threads: 2\n',
      /:2: unknown section "runtim"; did you mean "runtime"\?/,
    ],
    [
      'a bad value',
      'version: 1\n\nserve:\n  port: 70000\n',
      /:4: serve.port must be an integer ≥ 1 and ≤ 65535 \(got 70000\)$/,
    ],
    [
      'a bad enum',
      'version: 1\nruntime:\n  device: cdua\n',
      /:3: runtime.device must be one of auto, cpu, cuda \(got "cdua"\); did you mean "cuda"\?$/,
    ],
    [
      'a bad URL',
      'version: 1\nhub:\n  endpoint: not a url\n',
      /:3: hub.endpoint must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'a list for a number',
      'version: 1\nruntime:\n  threads:\n    - 1\n',
      /:4: runtime.threads must be an integer ≥ 1 \(got a list\)/,
    ],
    ['no version', 'runtime:\n  threads: 2\n', /:1: missing "version: 1"/],
    [
      'an unknown version',
      'version: 9\nruntime:\n  threads: 2\n',
      /:1: version 9 is not one this kiln reads/,
    ],
    ['not a mapping', '- a\n- b\n', /:1: expected a mapping/],
  ]
  for (const [name, text, message] of cases) {
    it(name, async () => {
      const s = sandbox()
      s.write(text)
      const e = await errorOf(loadSettings(s.file, s.env))
      expect(e).toBeInstanceOf(SettingsError)
      expect(e.message.startsWith(`${s.file}:`)).toBe(true)
      expect(e.message).not.toContain('\n')
      expect(e.message).toMatch(message)
    })
  }

  it('keeps secrets out of messages', async () => {
    const s = sandbox()
    s.write('version: 1\nhub:\n  token: [hf_abcdefghijklmnop]\n')
    const e = await errorOf(loadSettings(s.file, s.env))
    expect(e.message).not.toContain('hf_abc')
  })

  it('accepts an empty file, comments and `key:` with no value', async () => {
    const s = sandbox()
    s.write('')
    expect((await loadSettings(s.file, s.env)).values.size).toBe(0)
    s.write('# nothing yet\nversion: 1\nruntime:\n  threads:\nserve:\n  api_key: 12345\n')
    const loaded = await loadSettings(s.file, s.env)
    expect([...loaded.values]).toEqual([['serve.api_key', '12345']])
  })
})

describe('the validated-file cache', () => {
  it('gives the same values, and notices an edit (even one that breaks the file)', async () => {
    const s = sandbox()
    s.write('version: 1\nruntime:\n  threads: 3\n')
    const first = await loadSettings(s.file, s.env)
    const cache = settingsCachePath(s.env)
    expect(JSON.parse(readFileSync(cache, 'utf8')).values).toEqual([['runtime.threads', 3]])
    const again = await loadSettings(s.file, s.env)
    expect([...again.values]).toEqual([...first.values])
    s.write('version: 1\nruntime:\n  threads: 4\n')
    expect((await loadSettings(s.file, s.env)).values.get('runtime.threads')).toBe(4)
    s.write('version: 1\nruntime:\n  threads: 0\n')
    expect((await errorOf(loadSettings(s.file, s.env))).message).toMatch(/:3: runtime.threads must be/)
  })

  it('is written by kiln config set, so the next command reads it without yaml and zod', async () => {
    const s = sandbox()
    s.write('version: 1\nruntime:\n  threads: 3\n')
    const r = await runKiln(['config', 'set', 'runtime.threads', '5'], { env: s.env })
    expect(r.status, r.stderr).toBe(0)
    const cached = JSON.parse(readFileSync(settingsCachePath(s.env), 'utf8'))
    expect(cached.values).toEqual([['runtime.threads', 5]])
    // the record is for the text now in the file: loading it is a cache hit with the same values
    expect((await loadSettings(s.file, s.env)).values.get('runtime.threads')).toBe(5)
  })

  it('is only a cache: a corrupt one is ignored', async () => {
    const s = sandbox()
    s.write('version: 1\nruntime:\n  threads: 3\n')
    await loadSettings(s.file, s.env)
    writeFileSync(settingsCachePath(s.env), '{not json')
    expect((await loadSettings(s.file, s.env)).values.get('runtime.threads')).toBe(3)
  })
})

describe('edits', () => {
  it('keep comments and other keys, and remove emptied sections', async () => {
    const s = sandbox()
    s.write('# my settings\nversion: 1\nruntime:\n  threads: 3 # two sockets\n')
    await editSettings(s.file, new Map<string, unknown>([['generate.model', './m']]))
    let text = readFileSync(s.file, 'utf8')
    expect(text).toContain('# my settings')
    expect(text).toContain('# two sockets')
    expect(text).toContain('model: ./m')
    await editSettings(s.file, new Map([['generate.model', undefined]]))
    text = readFileSync(s.file, 'utf8')
    expect(text).not.toContain('generate')
    expect((await loadSettings(s.file, s.env)).values.get('runtime.threads')).toBe(3)
  })
})

describe('helpers', () => {
  it('redacts secrets', () => {
    expect(redact('hf_abcdefghijklmnopqrstuvwxyz')).toBe('****wxyz')
    expect(redact('short')).toBe('****')
  })

  it('suggests near misses only', () => {
    const keys = settingKeys().map((k) => k.key)
    expect(nearest('runtime.thread', keys)).toBe('runtime.threads')
    expect(nearest('max_new_tokens', keys)).toBe('generate.max_new_tokens')
    expect(nearest('generate.max-new-tokens', keys)).toBe('generate.max_new_tokens')
    expect(nearest('hub.tokne', keys)).toBe('hub.token')
    expect(nearest('zzzzzz', keys)).toBeUndefined()
  })
})
