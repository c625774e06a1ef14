// The conventions every command shares, checked across every command that exists (found in
// dist/commands, so a new command is covered as soon as it is built): help with a summary, a
// description and examples; `kiln help` listing it; exit 0 / 1 / 2; one {"error": {code, message}}
// document with --json; no colour with NO_COLOR or --no-color; --quiet.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { jsonOut, makeTempDir, ROOT, removeTempDirs, runKiln, spawnKiln } from '../helpers/cli.js'
import { expectCleanError, expectJsonError } from '../helpers/cli-errors.js'
import { BERT_TINY } from '../helpers/encoder-variants.js'

afterAll(removeTempDirs)

/** Command ids as oclif names them (topic separator " "; `config/index.js` is `config`). */
function commandIds(dir = path.join(ROOT, 'dist', 'commands'), prefix: string[] = []): string[] {
  const ids: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) ids.push(...commandIds(path.join(dir, e.name), [...prefix, e.name]))
    else if (e.name.endsWith('.js')) {
      const name = e.name.slice(0, -3)
      ids.push([...prefix, ...(name === 'index' ? [] : [name])].join(' '))
    }
  }
  return ids.sort()
}

const IDS = commandIds()
const tmp = makeTempDir('kiln-conventions-')
const env = {
  KILN_CONFIG: path.join(tmp, 'config.yaml'),
  XDG_CACHE_HOME: path.join(tmp, 'cache'),
  HF_HOME: path.join(tmp, 'hf'),
  HF_TOKEN: undefined,
}

/**
 * For each command, one run that succeeds (exit 0) and one that fails at run time (exit 1). `kiln
 * config` (the wizard) cannot succeed without a terminal. A command missing here fails the test
 * that checks this table is complete.
 */
const RUNS: Record<string, { ok: string[] | null; fail: string[] }> = {
  config: { ok: null, fail: ['config', 'validate', path.join(tmp, 'missing.yaml')] },
  'config default': { ok: ['config', 'path'], fail: ['config', 'validate', path.join(tmp, 'missing.yaml')] },
  'config get': { ok: ['config', 'get', 'runtime.device'], fail: ['config', 'validate', '/nonexistent'] },
  'config list': { ok: ['config', 'list'], fail: ['config', 'validate', '/nonexistent'] },
  'config path': { ok: ['config', 'path'], fail: ['config', 'validate', '/nonexistent'] },
  'config set': { ok: ['config', 'set', 'serve.port', '8081'], fail: ['config', 'validate', '/nonexistent'] },
  'config unset': { ok: ['config', 'unset', 'serve.port'], fail: ['config', 'validate', '/nonexistent'] },
  'config validate': { ok: ['config', 'path'], fail: ['config', 'validate', '/nonexistent'] },
  env: { ok: ['env'], fail: ['config', 'validate', '/nonexistent'] },
  generate: {
    ok: ['generate', 'Hi', '-m', 'models/default', '--max-new-tokens', '2'],
    fail: ['generate', 'Hi', '-m', '/nonexistent'],
  },
  export: {
    ok: ['config', 'path'],
    fail: ['export', '/nonexistent', '--format', 'gguf', '-o', path.join(tmp, 'x.gguf')],
  },
  download: {
    ok: ['cache', 'ls', '--cache-dir', tmp],
    fail: ['download', 'org/none', '--offline', '--cache-dir', tmp],
  },
  'cache ls': {
    ok: ['cache', 'ls', '--cache-dir', tmp],
    fail: ['cache', 'rm', 'org/none', '--cache-dir', tmp],
  },
  'cache rm': {
    ok: ['cache', 'ls', '--cache-dir', tmp],
    fail: ['cache', 'rm', 'org/none', '--cache-dir', tmp],
  },
  'cache verify': {
    ok: ['cache', 'verify', '--cache-dir', tmp],
    fail: ['cache', 'rm', 'org/none', '--cache-dir', tmp],
  },
  quantize: { ok: ['config', 'path'], fail: ['quantize', '/nonexistent', '--type', 'q8_0'] },
  // Training runs are test/commands/finetune*.test.ts's; a missing model fails before any.
  finetune: {
    ok: ['config', 'path'],
    fail: [
      'finetune',
      '-m',
      '/nonexistent',
      '--data',
      path.join(ROOT, 'package.json'),
      '-o',
      path.join(tmp, 'ft'),
    ],
  },
  classify: { ok: ['classify', '-m', BERT_TINY, 'hi'], fail: ['classify', '-m', '/nonexistent', 'hi'] },
  embed: { ok: ['embed', '-m', BERT_TINY, 'hi'], fail: ['embed', '-m', '/nonexistent', 'hi'] },
  'fill-mask': { ok: ['config', 'path'], fail: ['fill-mask', '-m', BERT_TINY, 'no head here'] },
  ner: { ok: ['config', 'path'], fail: ['ner', '-m', BERT_TINY, 'no head here'] },
  // A server that starts runs until a signal: test/server/serve-command.test.ts starts and stops it.
  serve: { ok: ['config', 'path'], fail: ['serve', '-m', '/nonexistent', '--port', '0'] },
}

const kiln = (args: string[], more: NodeJS.ProcessEnv = {}) =>
  runKiln(args, { env: { ...env, ...more }, timeoutMs: 120_000 })
const kilnProcess = (args: string[], more: NodeJS.ProcessEnv = {}) =>
  spawnKiln(args, { env: { ...env, ...more }, timeoutMs: 120_000 })

const ANSI = /\u001B\[/

describe('the command list', () => {
  it('has a success and a failure run for every command', () => {
    expect(IDS.length).toBeGreaterThan(5)
    for (const id of IDS)
      expect(RUNS[id], `add "${id}" to RUNS in test/commands/conventions.test.ts`).toBeDefined()
  })

  it('`kiln help` lists every command or its topic', async () => {
    const r = await kiln(['help'])
    expect(r.status).toBe(0)
    for (const id of IDS) expect(r.stdout).toMatch(new RegExp(`^  ${id.split(' ')[0]} `, 'm'))
    expect(r.stdout).toContain('autocomplete') // shell completion
  })

  it('an unknown command is bad usage (exit 2), with --json too', async () => {
    expectCleanError(await kiln(['generat']), 2)
    expect(expectJsonError(await kiln(['generat', '--json']), 2).code).toBe('E_USAGE')
  })

  it('shell completion is there for bash and zsh', async () => {
    for (const shell of ['bash', 'zsh']) {
      const r = await kiln(['autocomplete', 'script', shell])
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout.length).toBeGreaterThan(20)
    }
  }, 120_000)
})

describe.concurrent.each(IDS)('kiln %s', (id) => {
  const words = id.split(' ')

  it('has help with a summary, a description, examples and the shared flags', async () => {
    const r = await kiln([...words, '--help'])
    expect(r.status, r.stderr).toBe(0)
    const [summary] = r.stdout.split('\n')
    expect(summary.length, 'summary').toBeGreaterThan(15)
    for (const section of ['USAGE', 'DESCRIPTION', 'EXAMPLES'])
      expect(r.stdout).toMatch(new RegExp(`^${section}$`, 'm'))
    const description = r.stdout
      .split(/^DESCRIPTION$/m)[1]
      .split(/^[A-Z]+$/m)[0]
      .trim()
    expect(description.length, 'description').toBeGreaterThan(summary.length)
    expect(r.stdout).toContain(`$ kiln ${id}`)
    for (const flag of ['--json', '-q, --quiet', '--[no-]color']) expect(r.stdout).toContain(flag)
    expect(r.stdout).not.toMatch(ANSI) // not a terminal: no colour
  }, 300_000)

  // FORCE_COLOR stands in for a terminal (the help is piped here). Processes of their own: the
  // colour libraries read the environment once, when they load.
  it('colours help only when allowed: NO_COLOR and --no-color turn it off', async () => {
    const [forced, noColor, flag] = await Promise.all([
      kilnProcess([...words, '--help'], { FORCE_COLOR: '1', NO_COLOR: undefined }),
      kilnProcess([...words, '--help'], { FORCE_COLOR: '1', NO_COLOR: '1' }),
      kilnProcess([...words, '--help', '--no-color'], { FORCE_COLOR: '1', NO_COLOR: undefined }),
    ])
    expect(forced.stdout).toMatch(ANSI)
    expect(noColor.stdout).not.toMatch(ANSI)
    expect(flag.stdout).not.toMatch(ANSI)
    expect(flag.stderr).toBe('')
  }, 300_000)

  it('an unknown flag is bad usage: exit 2, one line, or one JSON error', async () => {
    const [text, json] = await Promise.all([
      kiln([...words, '--no-such-flag']),
      kiln([...words, '--no-such-flag', '--json']),
    ])
    expectCleanError(text, 2)
    expect(text.stderr).toContain('--no-such-flag')
    expect(expectJsonError(json, 2).code).toBe('E_USAGE')
  }, 300_000)

  it('exit 0 on success, 1 on a run-time failure, with --json errors as one document', async () => {
    const runs = RUNS[id]
    const [fail, failJson] = await Promise.all([kiln(runs.fail), kiln([...runs.fail, '--json'])])
    expectCleanError(fail, 1)
    expect(expectJsonError(failJson, 1).message).toBe(fail.stderr.slice('kiln: '.length, -1))
    if (!runs.ok) return
    const [ok, okJson] = await Promise.all([kiln(runs.ok), kiln([...runs.ok, '--json'])])
    expect(ok.status, ok.stderr).toBe(0)
    expect(okJson.status, okJson.stderr).toBe(0)
    jsonOut(okJson) // exactly one JSON document on stdout
    const quiet = await kiln([...runs.ok, '--quiet'])
    expect(quiet.status).toBe(0)
    expect(quiet.stderr).toBe('')
  }, 300_000)
})
