// Start-up time of the CLI: median wall time of fresh processes, interleaved so that a busy moment
// hits every command alike, and each command's cost over a bare `node -e 0`. The budget for
// `kiln --version` and `kiln config get` is 150 ms over node (bin/run.js answers them without
// loading oclif; a settings file is read without yaml and zod: from the record of the last file
// validated, else by the start-up reader with the build-time rules table).
// `npm run bench -- startup` runs only this section.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = path.join(root, 'bin', 'run.js')
const RUNS = 21
const BUDGET_MS = 150

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function run() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-startup-'))
  // A settings file, as a configured machine has: the realistic case for `config get`.
  const config = path.join(dir, 'config', 'config.yaml')
  mkdirSync(path.dirname(config))
  writeFileSync(
    config,
    '# edited by hand\nversion: 1\nruntime:\n  threads: 2  # cores\nhub:\n  endpoint: https://hf-mirror.com\ngenerate:\n  max_new_tokens: 64\n',
  )
  const flowConfig = path.join(dir, 'config', 'flow.yaml')
  writeFileSync(flowConfig, 'version: 1\nruntime: {threads: 2}\n')
  const env = { ...process.env, KILN_CONFIG: config, XDG_CACHE_HOME: path.join(dir, 'cache'), NO_COLOR: '1' }
  for (const k of Object.keys(env)) if (/^KILN_(?!CONFIG)|^HF_/.test(k)) delete env[k]
  const cases = [
    ['node -e 0', ['-e', '0']],
    ['kiln --version', [bin, '--version']],
    ['kiln config get runtime.threads', [bin, 'config', 'get', 'runtime.threads']],
    ['kiln help', [bin, 'help']],
    // The first read after a hand edit (no record of the file): the start-up reader and the rules
    // table read it without yaml and zod. A file outside that reader's subset (here a flow
    // mapping) goes to yaml and zod, the cost the budget excludes only for such files.
    [
      'kiln config get (first read after a hand edit)',
      [bin, 'config', 'get', 'runtime.threads'],
      { KILN_NO_SETTINGS_CACHE: '1' },
    ],
    [
      'kiln config get (environment variable set)',
      [bin, 'config', 'get', 'runtime.threads'],
      { KILN_RUNTIME_THREADS: '3' },
    ],
    [
      'kiln config get (hand edit outside the subset)',
      [bin, 'config', 'get', 'runtime.threads'],
      { KILN_NO_SETTINGS_CACHE: '1', KILN_CONFIG: flowConfig },
    ],
  ]
  const times = new Map(cases.map(([name]) => [name, []]))
  try {
    // One untimed round warms the file cache and records the validated settings.
    for (const [, args, more] of cases)
      spawnSync(process.execPath, args, { env: { ...env, ...more }, cwd: root })
    for (let r = 0; r < RUNS; r++) {
      for (const [name, args, more] of cases) {
        const t0 = process.hrtime.bigint()
        const p = spawnSync(process.execPath, args, { env: { ...env, ...more }, cwd: root, encoding: 'utf8' })
        const ms = Number(process.hrtime.bigint() - t0) / 1e6
        if (p.status !== 0) throw new Error(`${name} failed: ${p.stderr}`)
        times.get(name).push(ms)
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const base = median(times.get('node -e 0'))
  console.log('')
  console.log(`| start-up (median of ${RUNS}) | ms | over node -e 0 |`)
  console.log('| --- | --- | --- |')
  for (const [name] of cases) {
    const m = median(times.get(name))
    const budgeted =
      name === 'kiln --version' || (name.startsWith('kiln config get') && !name.includes('outside'))
    const mark = budgeted ? (m - base <= BUDGET_MS ? ' ✓' : ` ✗ over ${BUDGET_MS}`) : ''
    const over = name === 'node -e 0' ? '' : `${(m - base).toFixed(0)}${mark}`
    console.log(`| ${name} | ${m.toFixed(0)} | ${over} |`)
  }
}
