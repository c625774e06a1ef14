// `kiln config …` and `kiln env` end to end: the real bin/run.js on real settings files, including
// bad keys and values (the file must not change), broken files (path:line), concurrent writers, the
// start-up fast path against the oclif path, and generate reading its settings from all four sources.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type GenerateJson, jsonOut, type KilnRun, removeTempDirs, runKiln } from '../helpers/cli.js'
import { expectCleanError, expectJsonError } from '../helpers/cli-errors.js'
import { sandbox } from '../helpers/settings-sandbox.js'

afterAll(removeTempDirs)

const TOKEN = 'hf_TheWholeTokenMustNeverBePrinted42'

/** A clean failure (helpers/cli-errors.ts) whose stderr, `kiln: ` included, matches `message`. */
function expectError(r: KilnRun, status: 1 | 2, message: RegExp): void {
  expectCleanError(r, status)
  expect(r.stderr).toMatch(message)
}

const jsonErrorMessage = (r: KilnRun, status: 1 | 2, code: string) => expectJsonError(r, status, code).message

describe.concurrent('config get / set / unset / list / path', () => {
  it('set writes a checked value that get, list and path then report', async () => {
    const s = sandbox()
    const kiln = (...a: string[]) => runKiln(a, { env: s.env })
    let r = await kiln('config', 'path')
    expect(r.stdout).toBe(`${s.file}\n`)
    expect(jsonOut(await kiln('config', 'path', '--json'))).toEqual({ path: s.file, exists: false })
    r = await kiln('config', 'set', 'runtime.threads', '3')
    expect([r.status, r.stdout]).toEqual([0, ''])
    expect(r.stderr).toContain('runtime.threads = 3')
    expect(readFileSync(s.file, 'utf8')).toBe('version: 1\nruntime:\n  threads: 3\n')
    expect(statSync(s.file).mode & 0o777).toBe(0o600)
    expect((await kiln('config', 'get', 'runtime.threads')).stdout).toBe('3\n')
    expect(jsonOut(await kiln('config', 'get', 'runtime.threads', '--json'))).toEqual({
      key: 'runtime.threads',
      value: 3,
      source: 'file',
      from: s.file,
    })
    expect((await kiln('config', 'set', 'generate.top_p', '0.9', '--quiet')).stderr).toBe('')
    expect(jsonOut(await kiln('config', 'set', 'hub.offline', 'yes', '--json'))).toEqual({
      key: 'hub.offline',
      value: true,
      path: s.file,
    })
    r = await kiln('config', 'list')
    expect(r.stdout).toContain('runtime.threads = 3\n')
    expect(r.stdout).toContain('generate.top_p = 0.9\n')
    expect(r.stdout).not.toContain('generate.model')
    r = await kiln('config', 'list', '--sources')
    expect(r.stdout).toMatch(/^runtime\.threads +3 +file /m)
    expect(r.stdout).toMatch(/^runtime\.device +auto +default$/m)
    expect(r.stdout).toMatch(/^generate\.model +- +unset$/m)
    const j = jsonOut<{ path: string; settings: Record<string, { value: unknown; source: string }> }>(
      await runKiln(['config', 'list', '--json', '--sources'], {
        env: { ...s.env, KILN_SERVE_PORT: '9000' },
      }),
    )
    expect(j.path).toBe(s.file)
    expect(j.settings['serve.port']).toEqual({ value: 9000, source: 'env', from: 'KILN_SERVE_PORT' })
    expect(j.settings['generate.model']).toEqual({ value: null, source: 'unset' })
    expect(j.settings['runtime.threads'].source).toBe('file')
    // unset puts the default back
    r = await kiln('config', 'unset', 'runtime.threads')
    expect(r.status).toBe(0)
    expect(jsonOut(await kiln('config', 'get', 'runtime.threads', '--json'))).toMatchObject({
      value: os.availableParallelism(),
      source: 'default',
    })
    expect(jsonOut(await kiln('config', 'unset', 'runtime.threads', '--json'))).toEqual({
      key: 'runtime.threads',
      removed: false,
      path: s.file,
    })
    // get of a key with no value prints nothing
    expect(await kiln('config', 'get', 'generate.model')).toMatchObject({ status: 0, stdout: '' })
  })

  it('refuses unknown keys and bad values, leaving the file as it was', async () => {
    const s = sandbox()
    const kiln = (...a: string[]) => runKiln(a, { env: s.env })
    // Not created by a refused value either.
    expectError(
      await kiln('config', 'set', 'runtime.threads', '0'),
      2,
      /runtime\.threads must be an integer ≥ 1 \(got 0\)/,
    )
    expect(existsSync(s.file)).toBe(false)
    s.write('# hand written\nversion: 1\nruntime:\n  threads: 2\n')
    const before = readFileSync(s.file)
    const bad: [string[], RegExp][] = [
      [['runtime.threads', 'many'], /runtime\.threads must be an integer ≥ 1 \(got "many"\)/],
      [['runtime.threads', '2.5'], /an integer ≥ 1 \(got 2\.5\)/],
      [['runtime.device', 'gpu'], /one of auto, cpu, cuda \(got "gpu"\); did you mean "cpu"\?/],
      [['serve.port', '0'], /serve\.port must be an integer ≥ 1 and ≤ 65535/],
      [['hub.endpoint', 'ftp://x'], /hub\.endpoint must be an http:\/\/ or https:\/\/ URL/],
      [['hub.offline', 'maybe'], /hub\.offline must be true or false/],
      [['runtime.thread', '2'], /unknown setting "runtime\.thread"; did you mean "runtime\.threads"\?/],
      [['threads', '2'], /did you mean "runtime\.threads"\?/],
      [['nothing.like.it', '2'], /unknown setting "nothing\.like\.it" \(settings: runtime\.device, /],
    ]
    for (const [args, message] of bad) {
      expectError(await kiln('config', 'set', ...args), 2, message)
      expect(readFileSync(s.file).equals(before)).toBe(true)
    }
    expect(
      jsonErrorMessage(await kiln('config', 'set', 'runtime.threads', 'x', '--json'), 2, 'E_USAGE'),
    ).toMatch(/runtime\.threads/)
    expectError(await kiln('config', 'get', 'runtime.thread'), 2, /did you mean "runtime\.threads"/)
    expectError(await kiln('config', 'unset', 'hub.tokn'), 2, /did you mean "hub\.token"/)
    expectError(await kiln('config', 'set', 'runtime.threads'), 2, /value/i)
    expect(readFileSync(s.file).equals(before)).toBe(true)
  })

  it('never prints a secret in full', async () => {
    const s = sandbox()
    const kiln = (...a: string[]) => runKiln(a, { env: s.env })
    const runs = [
      await kiln('config', 'set', 'hub.token', TOKEN),
      await kiln('config', 'set', 'hub.token', TOKEN, '--json'),
      await kiln('config', 'get', 'hub.token'),
      await kiln('config', 'get', 'hub.token', '--json'),
      await kiln('config', 'list'),
      await kiln('config', 'list', '--sources', '--json'),
      await kiln('env'),
      await kiln('env', '--json'),
      await runKiln(['config', 'list', '--sources'], { env: { ...s.env, HF_TOKEN: `${TOKEN}x` } }),
      await runKiln(['config', 'set', 'serve.api_key', ''], { env: s.env }),
    ]
    expect(readFileSync(s.file, 'utf8')).toContain(TOKEN) // it is stored…
    for (const r of runs) {
      expect(r.stdout + r.stderr).not.toContain(TOKEN.slice(0, 12)) // …and never shown
    }
    expect(runs[2].stdout).toBe('****ed42\n')
  })

  it('points to the subcommands when `kiln config` is not on a terminal', async () => {
    const s = sandbox()
    expectError(
      await runKiln(['config'], { env: s.env }),
      2,
      /needs a terminal.*kiln config set.*kiln config default --yes/,
    )
    expect(jsonErrorMessage(await runKiln(['config', '--json'], { env: s.env }), 2, 'E_USAGE')).toMatch(
      /terminal/,
    )
  })
})

describe.concurrent('config default / validate', () => {
  it('default writes detected values once, then needs --yes', async () => {
    const s = sandbox()
    const kiln = (...a: string[]) => runKiln(a, { env: s.env })
    const r = await kiln('config', 'default', '--json')
    expect(r.status, r.stderr).toBe(0)
    const j = jsonOut<{ path: string; settings: Record<string, unknown> }>(r)
    expect(j.path).toBe(s.file)
    expect(j.settings['runtime.threads']).toBe(os.availableParallelism())
    expect(j.settings['runtime.device']).toBe('auto') // no CUDA in this build
    expect(j.settings['hub.cache_dir']).toBeUndefined() // follows HF_HOME instead of being pinned
    const written = readFileSync(s.file, 'utf8')
    expect(written).toMatch(/^version: 1\n/)
    expect(written).toContain(`threads: ${os.availableParallelism()}`)
    expectError(await kiln('config', 'default'), 1, /already exists; pass --yes to replace it/)
    expect(readFileSync(s.file, 'utf8')).toBe(written)
    await kiln('config', 'set', 'serve.port', '9999')
    expect((await kiln('config', 'default', '--yes')).status).toBe(0)
    expect(readFileSync(s.file, 'utf8')).toBe(written)
    expect((await kiln('config', 'validate')).stdout).toMatch(/: valid \(\d+ settings\)\n$/)
  })

  it('validate names the path and line of the first problem', async () => {
    const s = sandbox()
    const kiln = (...a: string[]) => runKiln(a, { env: s.env })
    expectError(await kiln('config', 'validate'), 1, /no such settings file/)
    s.write('version: 1\nruntime:\n  threads: 2\n')
    expect(jsonOut(await kiln('config', 'validate', '--json'))).toEqual({
      path: s.file,
      valid: true,
      settings: 1,
    })
    const other = path.join(s.dir, 'other.yaml')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(other, 'version: 1\ngenerate:\n  temperature: -1\n')
    expectError(
      await kiln('config', 'validate', other),
      1,
      new RegExp(`^kiln: ${other}:3: generate\\.temperature must be a number ≥ 0`),
    )
    expect(jsonErrorMessage(await kiln('config', 'validate', other, '--json'), 1, 'E_SETTINGS')).toContain(
      `${other}:3:`,
    )
    // A broken file stops every command that reads settings, with the same message.
    s.write('version: 1\nruntime:\n  threads: [\n')
    for (const args of [
      ['config', 'get', 'runtime.device'],
      ['config', 'list'],
      ['generate', 'hi'],
      ['env'],
    ]) {
      expectError(await kiln(...args), 1, new RegExp(`^kiln: ${s.file}:4: `))
    }
  })
})

describe('concurrent config set', () => {
  it('loses no write and leaves a valid file', async () => {
    const s = sandbox()
    s.write('version: 1\n# keep me\n')
    const sets: [string, string][] = [
      ['runtime.threads', '3'],
      ['runtime.device', 'cpu'],
      ['runtime.dtype', 'bf16'],
      ['hub.endpoint', 'https://mirror.example'],
      ['generate.model', './m'],
      ['generate.max_new_tokens', '17'],
      ['generate.temperature', '0.3'],
      ['generate.top_p', '0.8'],
      ['generate.top_k', '40'],
      ['serve.host', '0.0.0.0'],
      ['serve.port', '8081'],
      ['finetune.engine', 'accelerate'],
      ['finetune.mixed_precision', 'bf16'],
      ['finetune.num_processes', '4'],
    ]
    // Generous time: fourteen processes start at once on a small machine, and each waits its turn.
    const runs = await Promise.all(
      sets.map(([k, v]) => runKiln(['config', 'set', k, v, '--quiet'], { env: s.env, timeoutMs: 240_000 })),
    )
    for (const r of runs) expect(r.status, r.stderr).toBe(0)
    const j = jsonOut<{ settings: Record<string, unknown> }>(
      await runKiln(['config', 'list', '--json'], { env: s.env }),
    )
    for (const [k, v] of sets) expect(String(j.settings[k])).toBe(v)
    expect(readFileSync(s.file, 'utf8')).toContain('# keep me')
    // No temporary or lock file left behind.
    expect(readdirSync(path.dirname(s.file))).toEqual([path.basename(s.file)])
  }, 300_000)
})

describe.concurrent('the start-up fast path prints what oclif prints', () => {
  const variants: [string, (s: ReturnType<typeof sandbox>) => NodeJS.ProcessEnv][] = [
    ['no file', (s) => s.env],
    [
      'a file',
      (s) => {
        s.write(`version: 1\nruntime:\n  threads: 3\nhub:\n  token: ${TOKEN}\n`)
        return s.env
      },
    ],
    [
      'a broken file',
      (s) => {
        s.write('version: 1\nruntime:\n  thread: 3\n')
        return s.env
      },
    ],
    ['a bad variable', (s) => ({ ...s.env, KILN_RUNTIME_THREADS: 'lots', HF_TOKEN: TOKEN })],
    // Read as a hand edit is (no record of it): by the start-up reader, and by yaml for a file
    // outside its subset.
    [
      'a hand-edited file',
      (s) => {
        s.write(
          `# mine\nversion: 1\nruntime:\n    threads: 3  # cores\nhub:\n    endpoint: 'https://hf.co'\n`,
        )
        return { ...s.env, KILN_NO_SETTINGS_CACHE: '1', KILN_GENERATE_TOP_P: '0.9' }
      },
    ],
    [
      'a file outside the start-up subset',
      (s) => {
        s.write('version: 1\nruntime: {threads: 3}\ngenerate:\n  model: &m ./m\n')
        return { ...s.env, KILN_NO_SETTINGS_CACHE: '1' }
      },
    ],
  ]
  const argvs = [
    ['--version'],
    ['config', 'get', 'runtime.threads'],
    ['config', 'get', 'runtime.threads', '--json'],
    ['config', 'get', 'hub.token', '-q', '--no-color'],
    ['config', 'get', 'runtime.thread'],
    ['config', 'get', 'runtime.thread', '--json'],
    ['config', 'get', 'generate.model'],
    ['config', 'list'],
    ['config', 'list', '--sources'],
    ['config', 'list', '--json', '--sources'],
    ['config', 'path'],
    ['config', 'path', '--json'],
  ]
  for (const [name, setup] of variants) {
    it(name, async () => {
      const s = sandbox()
      const env = setup(s)
      for (const argv of argvs) {
        const [fast, slow] = await Promise.all([
          runKiln(argv, { env, timeoutMs: 120_000 }),
          runKiln(argv, { env: { ...env, KILN_NO_FAST_PATH: '1' }, timeoutMs: 120_000 }),
        ])
        const label = `${name}: kiln ${argv.join(' ')}`
        expect(fast.status, label).toBe(slow.status)
        expect(fast.stdout, label).toBe(slow.stdout)
        expect(fast.stderr, label).toBe(slow.stderr)
      }
    }, 600_000)
  }
})

describe.concurrent('generate reads its settings: flag > env > file > default', () => {
  // --min-new-tokens keeps EOS away, so the count is exactly max_new_tokens wherever it came from.
  const count = async (env: NodeJS.ProcessEnv, ...flags: string[]) => {
    const r = await runKiln(['generate', 'Once', '--json', ...flags], { env })
    expect(r.status, r.stderr).toBe(0)
    return jsonOut<GenerateJson>(r).completion_tokens
  }

  it('generate.max_new_tokens from each of the four sources', async () => {
    const s = sandbox()
    // default: the model's generation_config.json (max_new_tokens 48)
    expect(await count(s.env, '--min-new-tokens', '48')).toBe(48)
    s.write('version: 1\ngenerate:\n  max_new_tokens: 3\n')
    expect(await count(s.env, '--min-new-tokens', '3')).toBe(3)
    const env = { ...s.env, KILN_GENERATE_MAX_NEW_TOKENS: '4' }
    expect(await count(env, '--min-new-tokens', '4')).toBe(4)
    expect(await count(env, '--min-new-tokens', '5', '--max-new-tokens', '5')).toBe(5)
  })

  it('generate.model, runtime.device and bad values', async () => {
    const s = sandbox()
    const missing = path.join(s.dir, 'no-such-model')
    s.write(`version: 1\ngenerate:\n  model: ${missing}\n`)
    let r = await runKiln(['generate', 'Once'], { env: s.env })
    expectError(r, 1, new RegExp(missing))
    r = await runKiln(['generate', 'Once', '-m', 'models/default', '--max-new-tokens', '2', '--json'], {
      env: s.env,
    })
    expect(r.status, r.stderr).toBe(0)
    r = await runKiln(['generate', 'Once', '-m', 'models/default'], {
      env: { ...s.env, KILN_RUNTIME_DEVICE: 'cuda' },
    })
    expectError(r, 1, /device cuda \(from KILN_RUNTIME_DEVICE\): this build of kiln runs on the CPU only/)
    r = await runKiln(['generate', 'Once', '-m', 'models/default', '--device', 'cuda', '--json'], {
      env: s.env,
    })
    expect(jsonErrorMessage(r, 1, 'E_DEVICE')).toMatch(/--device/)
    r = await runKiln(['generate', 'Once', '-m', 'models/default'], {
      env: { ...s.env, KILN_GENERATE_TOP_P: '2' },
    })
    expectError(r, 2, /KILN_GENERATE_TOP_P: generate\.top_p must be a number > 0 and ≤ 1 \(got 2\)/)
  })
})

describe('kiln env', () => {
  it('--json has every section a bug report needs', async () => {
    const s = sandbox()
    s.write(`version: 1\nhub:\n  token: ${TOKEN}\n`)
    const proxied = { ...s.env, HTTPS_PROXY: 'http://me:pw@proxy.example:3128', NO_PROXY: 'localhost' }
    const r = await runKiln(['env', '--json'], { env: proxied })
    expect(r.status, r.stderr).toBe(0)
    const j = jsonOut<Record<string, Record<string, unknown>>>(r)
    expect(Object.keys(j)).toEqual([
      'kiln',
      'node',
      'os',
      'cpu',
      'memory',
      'native',
      'cuda',
      'settings',
      'cache',
      'proxy',
    ])
    expect(j.kiln.version).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version)
    expect(j.node.version).toBe(process.version)
    expect(j.os.platform).toBe(process.platform)
    expect(j.cpu.cores).toBe(os.availableParallelism())
    expect(Array.isArray(j.cpu.simd)).toBe(true)
    expect(typeof j.cpu.model).toBe('string')
    expect(j.memory.total_bytes).toBe(os.totalmem())
    expect(j.native.built).toBe(true)
    expect(j.native.backends).toContain('cpu')
    expect(j.cuda === null || Array.isArray((j.cuda as { gpus: unknown }).gpus)).toBe(true)
    expect(j.settings.path).toBe(s.file)
    const values = j.settings.values as Record<string, { value: unknown; source: string }>
    expect(values['hub.token']).toEqual({ value: '****ed42', source: 'file' })
    expect(j.cache).toEqual({ dir: path.join(s.env.HF_HOME!, 'hub'), exists: false, size_bytes: 0, files: 0 })
    // The proxy without its credentials.
    expect(j.proxy).toEqual({ hub: 'http://proxy.example:3128', no_proxy: 'localhost' })
    expect(r.stdout).not.toContain('pw@')
    const text = await runKiln(['env'], { env: s.env })
    expect(text.stdout).toMatch(/^kiln: +\d+\.\d+\.\d+$/m)
    expect(text.stdout).toMatch(/^cores: +\d+$/m)
  })
})
