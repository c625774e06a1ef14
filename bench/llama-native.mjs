// Native llama.cpp as the speed reference: its tools built for THIS CPU (-DGGML_NATIVE=ON, so
// AVX-512/VNNI where the CPU has them) from the very source node-llama-cpp ships
// (node_modules/node-llama-cpp/llama/gitRelease.bundle), so every llama.cpp figure is one commit.
//   ensureLlamaTarget(target) -> {bin, commit, flags}: builds only that CMake target (llama-bench,
//                          llama-server) on first use, about 10 minutes on 2 cores, into one cache
//                          folder outside the repository shared by both:
//                          $KILN_BENCH_CACHE, else $XDG_CACHE_HOME/kiln/bench, else ~/.cache/kiln/bench.
//   ensureLlamaBench()  -> the same for llama-bench; KILN_LLAMA_BENCH=/path/to/llama-bench uses an
//                          existing build instead.
//   llamaBench({bin, gguf, threads, prompt, gen}) -> {prefill_tokens_per_s, decode_tokens_per_s}
// Never run by CI: only `npm run bench -- cpu` and `-- serve` call it.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BUNDLE = path.join(root, 'node_modules/node-llama-cpp/llama/gitRelease.bundle')

function cacheRoot() {
  if (process.env.KILN_BENCH_CACHE) return process.env.KILN_BENCH_CACHE
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(xdg, 'kiln', 'bench')
}

function sh(cmd, args, opts = {}) {
  const p = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (p.error) throw new Error(`${cmd}: ${p.error.message}`)
  if (p.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${p.status}): ${(p.stderr || p.stdout).slice(-2000)}`)
  return p.stdout
}

/** The bundle's commit (its one head). */
function bundleCommit() {
  if (!existsSync(BUNDLE))
    throw new Error(`no llama.cpp source: ${BUNDLE} is missing (npm install node-llama-cpp)`)
  return sh('git', ['bundle', 'list-heads', BUNDLE]).trim().split(/\s+/)[0]
}

/**
 * Flags that llama.cpp's native build needs on this machine. GCC 12's AMX header declares only the
 * first 8 bytes of a tile configuration as read by `ldtilecfg`, so the optimizer drops the stores
 * of the rest and llama.cpp's AMX kernels (which -DGGML_NATIVE enables on CPUs with AMX-INT8) fault
 * on their first configuration: llama-bench dies of SIGSEGV on every Q4_0/Q4_K/Q6_K/Q8_0 file.
 * With dead-store elimination off they run, and they are llama.cpp's fastest kernels on such a CPU
 * (Sapphire Rapids VM, 2 threads: Q8_0 prefill 2389 against 865 tokens/s without AMX, built with
 * clang, whose -march=native does not define the macro ggml tests). So on CPUs with AMX, under GCC,
 * the build turns it off, in its own cache folder.
 */
function nativeBuildWorkaround() {
  let amx = false
  try {
    amx = /\bamx_int8\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))
  } catch {}
  if (!amx) return null
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  if (cc.error || !/Free Software Foundation/.test(cc.stdout)) return null
  return { suffix: '-amx-nodse', flags: '-fno-tree-dse -fno-dse' }
}

/** Path of llama.cpp's `target` built for this CPU, building it first if the cache has none. */
export function ensureLlamaTarget(target, { log = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const commit = bundleCommit()
  const fix = nativeBuildWorkaround()
  const dir = path.join(cacheRoot(), `llama.cpp-${commit.slice(0, 8)}${fix ? fix.suffix : ''}`)
  const bin = path.join(dir, 'build/bin', target)
  const flags = fix ? fix.flags : undefined
  if (existsSync(bin)) return { bin, commit, flags }
  mkdirSync(dir, { recursive: true })
  const src = path.join(dir, 'src')
  if (!existsSync(path.join(src, 'CMakeLists.txt'))) {
    // Cloned beside and renamed, so an interrupted clone never passes for a source tree.
    const tmp = `${src}.partial`
    rmSync(tmp, { recursive: true, force: true })
    sh('git', ['clone', '-q', BUNDLE, tmp])
    renameSync(tmp, src)
  }
  const jobs = String(os.availableParallelism())
  log(`building ${target} ${commit.slice(0, 8)} for this CPU in ${dir} (first use only; ~10 min on 2 cores)`)
  const t0 = performance.now()
  // One configuration for every target, so building one never reconfigures away another.
  sh('cmake', [
    '-S',
    src,
    '-B',
    path.join(dir, 'build'),
    '-DCMAKE_BUILD_TYPE=Release',
    '-DGGML_NATIVE=ON',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DLLAMA_CURL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_SERVER=ON',
    ...(fix ? [`-DCMAKE_C_FLAGS=${fix.flags}`, `-DCMAKE_CXX_FLAGS=${fix.flags}`] : []),
  ])
  sh('cmake', ['--build', path.join(dir, 'build'), '--target', target, '-j', jobs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  if (!existsSync(bin)) throw new Error(`the ${target} build finished but ${bin} is not there`)
  log(`built ${target} in ${((performance.now() - t0) / 60000).toFixed(1)} min`)
  return { bin, commit, flags }
}

/** Path of a llama-bench built for this CPU (KILN_LLAMA_BENCH names another). */
export function ensureLlamaBench(opts) {
  if (process.env.KILN_LLAMA_BENCH) return { bin: process.env.KILN_LLAMA_BENCH, commit: 'KILN_LLAMA_BENCH' }
  return ensureLlamaTarget('llama-bench', opts)
}

/** The compiler flags llama.cpp's native build enabled (llama-bench's system_info: "AVX512_VNNI = 1 | ..."). */
export function llamaBenchFeatures(bin, gguf) {
  const p = spawnSync(bin, ['-m', gguf, '-p', '0', '-n', '1', '-r', '1', '-o', 'json', '-t', '1'], {
    encoding: 'utf8',
  })
  const info = JSON.parse(p.stdout || '[{}]')[0] ?? {}
  return { cpu: info.cpu_info, backends: info.backends, commit: info.build_commit, build: info.build_number }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function benchJson(bin, args) {
  const out = sh(bin, [...args, '-o', 'json'])
  return JSON.parse(out)
}

/**
 * Prefill (pp`prompt` from an empty context) and decode (tg`gen` after `prompt` tokens, as kiln's
 * bench decodes after its prompt) tokens/s at `threads`, `reps` repetitions each (llama-bench warms
 * up first); medians of its per-repetition samples.
 */
export function llamaBench({ bin, gguf, threads, prompt = 64, gen = 128, reps = 1 }) {
  const common = ['-m', gguf, '-t', String(threads), '-r', String(reps)]
  const pp = benchJson(bin, [...common, '-p', String(prompt), '-n', '0'])[0]
  const tg = benchJson(bin, [...common, '-p', '0', '-n', String(gen), '-d', String(prompt)])[0]
  return { prefill_tokens_per_s: median(pp.samples_ts), decode_tokens_per_s: median(tg.samples_ts) }
}
