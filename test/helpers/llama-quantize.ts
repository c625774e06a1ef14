// llama.cpp's own quantizer, llama_model_quantize from node-llama-cpp's prebuilt libllama, driven
// through python3 ctypes by llama-quantize.py as `llama-quantize IN OUT FTYPE` runs it. Used to
// judge kiln's quantizer and to make the files real users download (Q5_K_M, fallbacks).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './cli.js'

const PLATFORM = `${process.platform}-${process.arch}`
const LIB_DIR = path.join(ROOT, 'node_modules', '@node-llama-cpp', PLATFORM, 'bins', PLATFORM)
const SCRIPT = path.join(ROOT, 'test', 'helpers', 'llama-quantize.py')

/** llama.h's llama_ftype numbers (what `llama-quantize` takes). */
export const LLAMA_FTYPE = {
  q4_0: 2,
  q8_0: 7,
  q5_0: 8,
  q5_1: 9,
  q4_k_m: 15,
  q5_k_s: 16,
  q5_k_m: 17,
  q6_k: 18,
} as const

/** Why llama.cpp's quantizer cannot be run here, or undefined when it can. */
export function llamaQuantizeUnavailable(): string | undefined {
  if (process.platform === 'win32') return 'the ctypes driver loads .so / .dylib libraries only'
  const libs = existsSync(LIB_DIR) ? readdirSync(LIB_DIR) : []
  for (const stem of ['libllama', 'libggml-base', 'libggml'])
    if (!libs.some((f) => f.startsWith(`${stem}.`) && /\.(so|dylib)$/.test(f)))
      return `node-llama-cpp's ${stem} is not in ${LIB_DIR}`
  if (spawnSync('python3', ['-c', 'import ctypes'], { stdio: 'ignore' }).status !== 0)
    return 'python3 (with ctypes) is not installed'
  return undefined
}

/** llama_model_quantize(input → output, ftype) on `threads` threads; throws with its stderr. */
export function llamaQuantize(input: string, output: string, ftype: number, threads = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = [SCRIPT, LIB_DIR, input, output, String(ftype), String(threads)]
    const child = spawn('python3', args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8')
    })
    child.on('error', reject)
    child.on('close', (status) =>
      status === 0 ? resolve() : reject(new Error(`llama_model_quantize ${output}: ${status}\n${stderr}`)),
    )
  })
}

/** softmax of row `row` of T × V logits. */
export function softmaxRow(logits: Float32Array, row: number, V: number): Float64Array {
  const x = logits.subarray(row * V, (row + 1) * V)
  let max = Number.NEGATIVE_INFINITY
  for (const v of x) max = Math.max(max, v)
  const p = Float64Array.from(x, (v) => Math.exp(v - max))
  const sum = p.reduce((a, b) => a + b, 0)
  return p.map((v) => v / sum)
}
