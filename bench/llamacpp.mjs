// llama.cpp (through node-llama-cpp) as the speed reference: the same weights exported to GGUF, the
// same prompt ids, greedy, measured in a fresh child process (bench/llamacpp-child.mjs).
//   exportBenchGguf(modelDir, dtype)  -> <modelDir>/model-<dtype>.gguf, written once (needs `npm run build`)
//   benchLlamaCpp({ggufPath, threads, promptTokens, newTokens, runs}) -> {prefill_tokens_per_s, decode_tokens_per_s, ...}
// node-llama-cpp is the project's devDependency; KILN_NODE_LLAMA_CPP may point at another install.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')

/**
 * node-llama-cpp's module: the project's own install first, then KILN_NODE_LLAMA_CPP (a folder
 * holding node_modules/node-llama-cpp, the package folder itself, or its dist/index.js).
 * Returns undefined when neither is there.
 */
export async function loadLlamaCpp() {
  try {
    return await import('node-llama-cpp')
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e
  }
  const hint = process.env.KILN_NODE_LLAMA_CPP
  if (!hint) return undefined
  const candidates = hint.endsWith('.js')
    ? [hint]
    : [path.join(hint, 'node_modules/node-llama-cpp/dist/index.js'), path.join(hint, 'dist/index.js')]
  const entry = candidates.find((c) => existsSync(c))
  if (!entry) throw new Error(`KILN_NODE_LLAMA_CPP=${hint}: no node-llama-cpp found there`)
  return await import(pathToFileURL(entry).href)
}

/** Writes `<modelDir>/model-<dtype>.gguf` unless it is already there and newer than the weights. */
export async function exportBenchGguf(modelDir, dtype) {
  const out = path.join(modelDir, `model-${dtype}.gguf`)
  const weights = path.join(modelDir, 'model.safetensors')
  const fresh =
    existsSync(out) && (!existsSync(weights) || statSync(out).mtimeMs >= statSync(weights).mtimeMs)
  if (fresh) return out
  const { exportGguf } = await import(pathToFileURL(path.join(root, 'dist/core/export/to-gguf.js')).href)
  exportGguf(modelDir, out, { dtype, force: true })
  return out
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * Prefill and decode tokens/s of llama.cpp on `ggufPath`: prompt ids (i·7919 + 13) mod V, as kiln's
 * bench uses, greedy, after a warm-up run; each run is a fresh process, the result is the median.
 * `llama_*` fields are llama.cpp's own timers (no node-llama-cpp overhead), when it reports them.
 */
export async function benchLlamaCpp({ ggufPath, threads = 2, promptTokens = 64, newTokens = 128, runs = 1 }) {
  const results = []
  for (let r = 0; r < runs; r++) {
    const p = spawnSync(
      process.execPath,
      [
        path.join(here, 'llamacpp-child.mjs'),
        ggufPath,
        String(threads),
        String(promptTokens),
        String(newTokens),
      ],
      { encoding: 'utf8', env: process.env },
    )
    if (p.status !== 0) throw new Error(`llama.cpp bench child failed (${p.status}): ${p.stderr || p.stdout}`)
    results.push(JSON.parse(p.stdout.trim().split('\n').pop()))
  }
  const out = {}
  for (const key of Object.keys(results[0])) {
    const values = results.map((x) => x[key]).filter((v) => typeof v === 'number')
    if (values.length === results.length) out[key] = median(values)
  }
  return out
}
