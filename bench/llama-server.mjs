// llama.cpp's own server as the serving peer: built once from the llama.cpp source that
// node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle, a git bundle) for this
// CPU (GGML_NATIVE: AVX-512/VNNI where the CPU has them), only the llama-server target, in
// .bench/llama.cpp/ (never in CI). `node bench/llama-server.mjs` builds it and prints its path.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bundle = path.join(root, 'node_modules/node-llama-cpp/llama/gitRelease.bundle')
const base = path.join(root, '.bench/llama.cpp')
const src = path.join(base, 'src')
const build = path.join(base, 'build')

function run(cmd, args, cwd) {
  const p = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] })
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${p.status})`)
}

/** The llama-server binary, built on first use (several minutes on 2 cores). */
export function buildLlamaServer() {
  const bin = path.join(build, 'bin/llama-server')
  if (existsSync(bin)) return bin
  if (!existsSync(bundle))
    throw new Error(`no llama.cpp source: ${bundle} is missing (npm install node-llama-cpp)`)
  mkdirSync(base, { recursive: true })
  if (!existsSync(path.join(src, 'CMakeLists.txt'))) run('git', ['clone', '--quiet', bundle, src], base)
  run(
    'cmake',
    [
      '-S',
      src,
      '-B',
      build,
      '-DCMAKE_BUILD_TYPE=Release',
      '-DGGML_NATIVE=ON',
      '-DLLAMA_CURL=OFF',
      '-DLLAMA_BUILD_TESTS=OFF',
      '-DLLAMA_BUILD_EXAMPLES=OFF',
      '-DLLAMA_BUILD_SERVER=ON',
    ],
    base,
  )
  run('cmake', ['--build', build, '--target', 'llama-server', '-j', '2'], base)
  if (!existsSync(bin)) throw new Error(`the build did not produce ${bin}`)
  return bin
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.stdout.write(`${buildLlamaServer()}\n`)
