#!/usr/bin/env node
// Runs kiln's fuzz targets (test/fuzz/<name>.fuzz.test.ts) for longer than the CI budget:
//   npm run fuzz -- --target NAME --time SECONDS   one target (or `--target all`, the default)
//   npm run fuzz -- --list                         the targets
// Options: --seed N (replay a run), --case N (with --seed: only case N, as a hang or crash report
// names it), --path P (with --seed: fast-check's path of a failure, as its report gives it),
// --runs N (stop after N random cases), --survey (count every failure by kind and place instead
// of stopping at the first; counterexamples go to $KILN_FUZZ_OUT/<target>-survey/).
// Each target's random cases get SECONDS; a format target's native phase (real files mapped by the
// addon, in a child process) gets a quarter of that on top. vitest runs the targets, two at a time
// (vitest.config.ts), and this prints per target the cases run and the failures.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FUZZ = path.join(ROOT, 'test', 'fuzz')
const targets = readdirSync(FUZZ)
  .filter((f) => f.endsWith('.fuzz.test.ts'))
  .map((f) => f.slice(0, -'.fuzz.test.ts'.length))
  .sort()

function usage(message) {
  if (message) console.error(`fuzz: ${message}`)
  console.error(
    'usage: npm run fuzz -- [--target NAME|all] [--time SECONDS] [--seed N] [--case N | --path P] [--runs N] [--survey] [--list]',
  )
  console.error(`targets: ${targets.join(', ')}`)
  process.exit(2)
}

const opts = { target: 'all', time: 60 }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const value = () => {
    const v = argv[++i]
    if (v === undefined) usage(`${a} needs a value`)
    return v
  }
  if (a === '--target' || a === '-t') opts.target = value()
  else if (a === '--time') opts.time = Number(value())
  else if (a === '--seed') opts.seed = value()
  else if (a === '--path') opts.path = value()
  else if (a === '--case') opts.case = value()
  else if (a === '--runs') opts.runs = value()
  else if (a === '--survey') opts.survey = true
  else if (a === '--list') {
    console.log(targets.join('\n'))
    process.exit(0)
  } else if (a === '--help' || a === '-h') usage()
  else usage(`unknown argument ${a}`)
}
if (!Number.isFinite(opts.time) || opts.time <= 0) usage('--time must be a number of seconds > 0')
const selected = opts.target === 'all' ? targets : opts.target.split(',')
for (const t of selected) if (!targets.includes(t)) usage(`no target "${t}"`)

const work = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-run-'))
const reportFile = path.join(work, 'report.jsonl')
const outDir = process.env.KILN_FUZZ_OUT || path.join(os.tmpdir(), 'kiln-fuzz')
const timeMs = Math.round(opts.time * 1000)
const env = {
  ...process.env,
  KILN_FUZZ_TIME_MS: String(timeMs),
  KILN_FUZZ_REPORT: reportFile,
  KILN_FUZZ_OUT: outDir,
  // A fresh seed unless one is given (the test suite's default is a fixed one).
  KILN_FUZZ_SEED: opts.seed ?? 'fresh',
  ...(opts.path !== undefined ? { KILN_FUZZ_PATH: opts.path } : {}),
  ...(opts.case !== undefined ? { KILN_FUZZ_CASE: opts.case } : {}),
  ...(opts.runs !== undefined ? { KILN_FUZZ_RUNS: opts.runs } : {}),
  ...(opts.survey ? { KILN_FUZZ_SURVEY: '1' } : {}),
}
const files = selected.map((t) => path.join('test', 'fuzz', `${t}.fuzz.test.ts`))
const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')
// Time enough for the random cases, the native phase, shrinking a failure and the corpus.
const testTimeout = String(timeMs * 3 + 180_000)
console.log(`fuzz: ${selected.join(', ')} for ${opts.time} s each${opts.seed ? ` (seed ${opts.seed})` : ''}`)
const started = Date.now()
const status = await new Promise((resolve) => {
  const child = spawn(
    process.execPath,
    [vitest, 'run', ...files, '--testTimeout', testTimeout, '--hookTimeout', '180000'],
    { cwd: ROOT, env, stdio: 'inherit' },
  )
  child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
})

// The report: one line per target and phase.
const lines = existsSync(reportFile)
  ? readFileSync(reportFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : []
console.log(`\nfuzz report (${((Date.now() - started) / 1000).toFixed(0)} s in all)`)
for (const t of selected) {
  const rows = lines.filter((l) => l.target === t)
  if (rows.length === 0) {
    console.log(`  ${t}: no report (the run ended before this target finished: see the output above)`)
  }
  for (const r of rows) {
    const known = Object.entries(r.known ?? {})
      .map(([k, n]) => `${k} ×${n}`)
      .join('; ')
    console.log(
      `  ${t} ${r.phase}: ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s, seed ${r.seed}, ` +
        `${r.failures.length} failure${r.failures.length === 1 ? '' : 's'}`,
    )
    for (const f of r.failures) console.log(`      FAILURE ${f}`)
    if (known) console.log(`      known bugs hit: ${known}`)
  }
}
// A case that took the process down leaves its seed and path behind (the watchdog's note, or the
// harness's record of the case in progress).
if (existsSync(outDir)) {
  for (const f of readdirSync(outDir)) {
    const target = f.split('-')[0]
    if (!selected.some((t) => f.startsWith(`${t}-`)) && !selected.includes(target)) continue
    const file = path.join(outDir, f)
    if (statSync(file).mtimeMs < started) continue // from an earlier run
    if (f.endsWith('-watchdog.txt')) console.log(`  watchdog: ${readFileSync(file, 'utf8').trim()}`)
    if (f.endsWith('.current')) {
      console.log(
        `  a process died during a case of ${f.replace(/-\d+\.current$/, '')}: ${readFileSync(file, 'utf8').trim()}`,
      )
      rmSync(file, { force: true })
    }
  }
}
rmSync(work, { recursive: true, force: true })
process.exit(status)
