#!/usr/bin/env node
// The ARM64 kernels, checked on this x86 machine: cross-compiles the CPU kernels with Debian's
// g++-aarch64-linux-gnu, with the driver test/arm64/kernel-check.cc (no Node: it calls the fast and
// the reference kernel tables directly), and runs it under qemu-user once per kernel tier. Also
// compiles the addon's Node-facing files for ARM64, so that a build on an ARM64 machine does not
// meet a compile error first. Correctness only: qemu says nothing about speed.
//   npm run test:arm64
// Installs the cross-compiler and qemu-user with apt-get when they are missing (as root), which is
// why it is outside .ci/run. Objects are kept in build/arm64/<compiler>/ and rebuilt when their source or a
// header changed.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { nativeSources } from './native-sources.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const CXX = 'aarch64-linux-gnu-g++'
const QEMU = 'qemu-aarch64'
// binding.gyp's flags, so the kernels compile as the addon's do (-ffp-contract=off above all: the
// tiers' bit-for-bit agreement depends on it).
const FLAGS = [
  '-std=c++17',
  '-O3',
  '-fexceptions',
  '-ffp-contract=off',
  '-Wall',
  '-Werror=switch',
  '-Wno-unused-parameter',
]
// The files that include Node's headers: compiled for the check, not linked into the driver.
const NODE_FACING = /^native\/(addon[^/]*|mapped_file)\.cc$/

function fail(message) {
  console.error(`test:arm64: ${message}`)
  process.exit(2)
}

const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

function ensureTools() {
  if (has(CXX) && has(QEMU)) return
  if (process.getuid?.() !== 0 || !has('apt-get'))
    fail(`needs ${CXX} and ${QEMU}: apt-get install g++-aarch64-linux-gnu qemu-user`)
  console.log('test:arm64: installing g++-aarch64-linux-gnu and qemu-user (apt-get)')
  const r = spawnSync('apt-get', ['install', '-y', '-q', 'g++-aarch64-linux-gnu', 'qemu-user'], {
    stdio: 'inherit',
  })
  if (r.status !== 0 || !has(CXX) || !has(QEMU))
    fail('apt-get could not install the cross-compiler and qemu-user')
}

/** The newest mtime of the headers under native/ (a header change rebuilds every object). */
function newestHeader(dir = path.join(root, 'native')) {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, newestHeader(p))
    else if (e.name.endsWith('.h')) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}

function compile(cxx, args) {
  return new Promise((resolve) => {
    const child = spawn(cxx[0], [...cxx.slice(1), ...args], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    child.on('close', (code) => resolve(code === 0))
  })
}

/** Runs jobs (functions returning promises of success) on up to `width` at a time. */
async function all(jobs, width) {
  let next = 0
  let ok = true
  const worker = async () => {
    while (next < jobs.length) ok = (await jobs[next++]()) && ok
  }
  await Promise.all(Array.from({ length: width }, worker))
  return ok
}

const headers = newestHeader()
const nodeInclude = path.resolve(path.dirname(process.execPath), '..', 'include', 'node')
const napiInclude = require('node-addon-api').include_dir
const includes = ['-Inative', `-I${path.resolve(root, napiInclude)}`, `-I${nodeInclude}`]
const width = Number(process.env.JOBS) || cpus().length

/** Compiles every native file with `cxx` into build/arm64/<name>/ and links the driver; its path. */
async function buildDriver(name, cxx) {
  const out = path.join(root, 'build', 'arm64', name)
  mkdirSync(out, { recursive: true })
  const objects = []
  const jobs = []
  for (const src of nativeSources()) {
    const obj = path.join(out, `${src.replaceAll('/', '_')}.o`)
    const nodeFacing = NODE_FACING.test(src)
    if (!nodeFacing) objects.push(obj)
    const stamp = existsSync(obj) ? statSync(obj).mtimeMs : 0
    if (stamp > statSync(path.join(root, src)).mtimeMs && stamp > headers) continue
    const args = nodeFacing
      ? [
          ...FLAGS,
          ...includes,
          '-DNAPI_VERSION=8',
          '-DNODE_ADDON_API_DISABLE_DEPRECATED',
          '-c',
          src,
          '-o',
          obj,
        ]
      : [...FLAGS, '-Inative', '-c', src, '-o', obj]
    jobs.push(() => compile(cxx, args))
  }
  console.log(
    `test:arm64: ${name}: compiling ${jobs.length} of ${nativeSources().length} native files for ARM64`,
  )
  if (!(await all(jobs, width))) fail(`${name}: a native file does not compile for ARM64`)
  const driver = path.join(out, 'kernel-check')
  // The driver at -O1: GCC 12's vectorizer fails on its bound loops at -O3 (an internal compiler
  // error), and its speed does not matter.
  const driverFlags = FLAGS.map((f) => (f === '-O3' ? '-O1' : f))
  const link = [...driverFlags, '-Inative', '-static', '-pthread', 'test/arm64/kernel-check.cc', ...objects]
  if (!(await compile(cxx, [...link, '-o', driver]))) fail(`${name}: the kernel-check driver does not link`)
  return driver
}

ensureTools()
// GCC always; clang too where it is installed (it is what macOS builds the addon with, and its
// NEON headers differ from GCC's: apt-get install clang), against the same cross sysroot.
const compilers = [{ name: 'gcc', cxx: [CXX] }]
if (has('clang++')) compilers.push({ name: 'clang', cxx: ['clang++', '--target=aarch64-linux-gnu'] })
else
  console.log('test:arm64: clang++ not found, so only GCC builds the kernels (apt-get install clang adds it)')
const drivers = []
for (const c of compilers) drivers.push({ name: c.name, path: await buildDriver(c.name, c.cxx) })

// Each tier on qemu's "max" CPU (which has dotprod and i8mm), then detection on a CPU with dotprod
// but no i8mm (Neoverse N1, as Graviton 2), which must pick dotprod, and on one without dotprod
// (Cortex-A72, as Graviton 1 and the Raspberry Pi 4), which must pick neon.
const runs = [
  { cpu: 'max', tier: 'portable', want: 'portable' },
  { cpu: 'max', tier: 'neon', want: 'neon' },
  { cpu: 'max', tier: 'dotprod', want: 'dotprod' },
  { cpu: 'max', tier: 'i8mm', want: 'i8mm' },
  { cpu: 'max', tier: '', want: 'i8mm' },
  { cpu: 'neoverse-n1', tier: '', want: 'dotprod' },
  { cpu: 'cortex-a72', tier: '', want: 'neon' },
]
let failed = 0
for (const driver of drivers)
  for (const r of runs) {
    const env = { ...process.env, KILN_SIMD: r.tier }
    if (!r.tier) delete env.KILN_SIMD
    const label = `${driver.name}, qemu -cpu ${r.cpu}, KILN_SIMD=${r.tier || '(unset)'}`
    const p = spawnSync(QEMU, ['-cpu', r.cpu, driver.path], { env, encoding: 'utf8' })
    const text = `${p.stdout ?? ''}${p.stderr ?? ''}`
    const tierLine = text.split('\n')[0] ?? ''
    const tierOk = tierLine.startsWith(`kernel tier ${r.want} `)
    const ok = p.status === 0 && tierOk
    if (!ok) failed++
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: ${tierLine}${tierOk ? '' : ` (want ${r.want})`}`)
    for (const line of text.split('\n').slice(1))
      if (line && (!ok || line.startsWith('FAIL'))) console.log(`       ${line}`)
  }
console.log(
  failed
    ? `test:arm64: ${failed} of ${runs.length * drivers.length} runs failed`
    : `test:arm64: all ${runs.length * drivers.length} runs passed`,
)
process.exit(failed ? 1 : 0)
