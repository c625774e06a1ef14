#!/usr/bin/env node
// Runs the tests that exercise native code against the sanitizer build (npm run build:asan first):
// the op and kernel tests (test/native), the training graphs (test/core/train: golden steps, QLoRA,
// GPT-2, checkpointing), the sampler, the format
// readers (test/core/formats) and the native phases of the safetensors and GGUF fuzz targets
// (files mapped and read by the addon in a child process). Node itself is not built with ASan, so the compiler's shared runtimes are preloaded
// (LD_PRELOAD, inherited by vitest's workers and the fuzz children) and KILN_NATIVE_ADDON points
// src/core/native.ts at build-asan/. Any sanitizer report ends the process that made it, and so
// fails its test.
//   npm run test:asan [-- --fuzz-ms N] [-- vitest args...]
//   --fuzz-ms N: each format target's native phase runs for N ms (default 10000)
//   further arguments replace the default test selection (passed to vitest run)
// ASAN_OPTIONS / UBSAN_OPTIONS set in the environment are appended to the defaults here. A
// suppressions file, test/asan/asan.supp, is passed when it exists: for reports inside Node or V8
// themselves only, never for kiln's code (none has been needed). Linux only (LD_PRELOAD, /proc).
import { spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const addon = path.join(root, 'build-asan', 'build', 'Release', 'kiln_native.node')
const suppressions = path.join(root, 'test', 'asan', 'asan.supp')

function fail(message) {
  console.error(`test:asan: ${message}`)
  process.exit(2)
}

/** The shared runtime `lib` (libasan.so, libubsan.so) of the compiler that built the addon. */
function runtime(lib) {
  const cxx = (process.env.CXX ?? 'g++').split(/\s+/)[0]
  for (const cc of [cxx, 'gcc']) {
    const r = spawnSync(cc, [`-print-file-name=${lib}`], { encoding: 'utf8' })
    const file = r.status === 0 ? r.stdout.trim() : ''
    // Not found: the compiler prints the bare name back.
    if (file && path.isAbsolute(file) && existsSync(file)) return realpathSync(file)
  }
  return undefined
}

let fuzzMs = 10_000
const args = process.argv.slice(2)
const i = args.indexOf('--fuzz-ms')
if (i >= 0) {
  fuzzMs = Number(args[i + 1])
  if (!Number.isFinite(fuzzMs) || fuzzMs <= 0) fail('--fuzz-ms needs a number of milliseconds > 0')
  args.splice(i, 2)
}

if (!existsSync(addon)) fail(`${path.relative(root, addon)} missing: run "npm run build:asan" first`)
const asan = runtime('libasan.so')
const ubsan = runtime('libubsan.so')
if (!asan || !ubsan)
  fail('the compiler has no shared libasan.so / libubsan.so (Debian: apt-get install libgcc-<gcc major>-dev)')

const extra = (name) => (process.env[name] ? `:${process.env[name]}` : '')
const env = {
  ...process.env,
  KILN_NATIVE_ADDON: addon,
  // The ASan runtime must come first in the library list; the UBSan one is the addon's too.
  LD_PRELOAD: [asan, ubsan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
  ASAN_OPTIONS:
    [
      // V8 and Node keep allocations for the life of the process by design: no leak checking.
      'detect_leaks=0',
      'halt_on_error=1',
      // Freed memory held back to catch use-after-free: 64 MB a process instead of 256, as a run
      // has many at once (vitest's forks, the fuzz and op children) on a small CI machine.
      'quarantine_size_mb=64',
      ...(existsSync(suppressions) ? [`suppressions=${suppressions}`] : []),
    ].join(':') + extra('ASAN_OPTIONS'),
  UBSAN_OPTIONS: `halt_on_error=1:print_stacktrace=1${extra('UBSAN_OPTIONS')}`,
  // The native fuzz phase gets a quarter of KILN_FUZZ_TIME_MS (test/fuzz/native-batch.ts).
  KILN_FUZZ_TIME_MS: String(fuzzMs * 4),
}

const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
const run = (label, vitestArgs) => {
  console.log(`\ntest:asan: ${label}`)
  const t0 = performance.now()
  // One test file at a time: under the sanitizers a kernel test holds its worker's event loop for
  // tens of seconds, and two such files sharing two cores push vitest's worker past its fixed 60 s
  // reply timeout ("Timeout calling onTaskUpdate") although every test passes.
  const oneAtATime = ['--poolOptions.forks.maxForks=1', '--poolOptions.forks.minForks=1']
  const r = spawnSync(process.execPath, [vitest, 'run', ...oneAtATime, ...vitestArgs], {
    cwd: root,
    env,
    stdio: 'inherit',
  })
  console.log(
    `test:asan: ${label}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  )
  return r.status ?? 1
}

console.log(`test:asan: addon ${path.relative(root, addon)}\n  LD_PRELOAD=${env.LD_PRELOAD}`)
// Preflight: the sanitizer build loads (it will not without its runtimes first) where the tests
// load it (KILN_NATIVE_ADDON, which src/core/native.ts and the op tests' child read).
const check = spawnSync(
  process.execPath,
  [
    '-e',
    `const a = require(process.env.KILN_NATIVE_ADDON); a.cpuInfo();
     const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8');
     if (!maps.includes(${JSON.stringify(addon)})) { console.error('the sanitizer build was not loaded'); process.exit(1) }`,
  ],
  { cwd: root, env, encoding: 'utf8' },
)
if (check.status !== 0) fail(`the sanitizer build does not load:\n${check.stderr}`)
let status = 0
if (args.length) status = run(args.join(' '), args)
else {
  // op-table.test.ts compiles headers with the C++ compiler and float.test.ts / json-keys.test.ts
  // are plain TypeScript: nothing there for the sanitizers, so they are left to npm test.
  const a = run('native and format tests', [
    'test/native',
    'test/core/formats/safetensors.test.ts',
    'test/core/formats/gguf.test.ts',
    // Whole training graphs: forward, backward and AdamW over the golden batch.
    'test/core/train/lora-golden.test.ts',
    'test/core/train/fullgrad-golden.test.ts',
    // QLoRA's quantized backward, GPT-2's backward ops, recomputed layers.
    'test/core/train/qlora.test.ts',
    'test/core/train/gpt2-train.test.ts',
    'test/core/train/checkpointing.test.ts',
    // The chunked loss: row views of the head's weight and gradient.
    'test/core/train/chunked-loss.test.ts',
    // The sampler and the log-probabilities, bad arguments included.
    'test/core/runtime/sampling.test.ts',
    '--exclude',
    'test/native/op-table.test.ts',
  ])
  // Only the native phases: the fuzz targets' other tests run no native code.
  const b = run('fuzz: native phases', [
    'test/fuzz/safetensors.fuzz.test.ts',
    'test/fuzz/gguf.fuzz.test.ts',
    '-t',
    'native reads in a child process',
  ])
  status = a || b
}
process.exit(status)
