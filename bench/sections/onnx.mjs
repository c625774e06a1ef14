// npm run bench -- onnx: kiln's ONNX export of the 110M-class llama (bench/make-model.mjs, F32),
// side by side in one run:
//   - export time (kiln export --format onnx, without validation: fp32 and q4, --optimize none and
//     ort) beside writing the same weights as safetensors (the library's writer), and sizes;
//   - prefill and decode tokens/s of the exports in ONNX Runtime (onnxruntime-node, 2 intra-op
//     threads, all graph optimizations) beside kiln's native engine on the same weights; the `ort`
//     exports also over one shared KV buffer per layer (GroupQueryAttention writes in place, as
//     onnxruntime-genai runs it with past_present_share_buffer).
// Same prompt ids (64), 128 greedy decode steps through the export's own past, medians of RUNS,
// each measurement in a fresh process.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportBenchGguf } from '../llamacpp.mjs'
import { makeBenchModel } from '../make-model.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const THREADS = 2
const PROMPT = 64
const NEW = 128
const RUNS = Number(process.env.KILN_BENCH_RUNS ?? 3)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function child(args) {
  const p = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (p.status !== 0) throw new Error(`bench child failed: ${p.stderr}`)
  return JSON.parse(p.stdout.trim().split('\n').pop())
}

function folderBytes(dir) {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += statSync(path.join(e.parentPath ?? e.path, e.name)).size
  return n
}

export async function run() {
  const model = await makeBenchModel('f32')
  const work = mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-onnx-'))
  try {
    // Export time: a fresh CLI process each (start-up included for both: the safetensors writer
    // runs in a child the same way).
    const VARIANTS = [
      ['fp32', 'none', 'model.onnx'],
      ['fp32', 'ort', 'model.onnx'],
      ['q4', 'none', 'model_q4.onnx'],
      ['q4', 'ort', 'model_q4.onnx'],
    ]
    const exportMs = { safetensors: [] }
    for (let r = 0; r < RUNS; r++) {
      for (const [dtype, optimize] of VARIANTS) {
        const key = `${dtype} ${optimize}`
        const out = path.join(work, `onnx-${dtype}-${optimize}`)
        const t0 = performance.now()
        const p = spawnSync(
          process.execPath,
          [
            path.join(root, 'bin', 'run.js'),
            'export',
            model,
            '--format',
            'onnx',
            '--dtype',
            dtype,
            '--optimize',
            optimize,
            '-o',
            out,
            '--force',
            '--no-validate',
            '--quiet',
          ],
          { encoding: 'utf8' },
        )
        if (p.status !== 0) throw new Error(`export failed: ${p.stderr}`)
        exportMs[key] ??= []
        exportMs[key].push(performance.now() - t0)
      }
      // Wall time of a fresh process that opens the model and writes its weights, as the export's is.
      const t0 = performance.now()
      child([
        path.join(here, '..', 'onnx-child.mjs'),
        'safetensors',
        model,
        path.join(work, 'copy.safetensors'),
      ])
      exportMs.safetensors.push(performance.now() - t0)
    }
    const sizes = { safetensors: statSync(path.join(work, 'copy.safetensors')).size }
    for (const [dtype, optimize] of VARIANTS)
      sizes[`${dtype} ${optimize}`] = folderBytes(path.join(work, `onnx-${dtype}-${optimize}`, 'onnx'))
    // Speed: kiln native, then ONNX Runtime on each export, interleaved by run.
    // kiln's own 4-bit path beside ORT's q4: the same weights as a Q4_0 GGUF (blocks of 32, as q4).
    const q4gguf = await exportBenchGguf(model, 'q4_0')
    const speed = { 'kiln native (f32)': [], 'kiln native (Q4_0)': [] }
    for (let r = 0; r < RUNS; r++) {
      speed['kiln native (Q4_0)'].push(
        child([
          path.join(root, 'bench', 'engine-child.mjs'),
          q4gguf,
          String(THREADS),
          String(PROMPT),
          String(NEW),
        ]),
      )
      speed['kiln native (f32)'].push(
        child([
          path.join(root, 'bench', 'engine-child.mjs'),
          model,
          String(THREADS),
          String(PROMPT),
          String(NEW),
        ]),
      )
      // The fused graphs also over one shared KV buffer per layer (written in place).
      for (const [dtype, optimize, file, shared] of [
        ...VARIANTS,
        ...VARIANTS.filter(([, o]) => o === 'ort').map((v) => [...v, 'shared']),
      ]) {
        const key = `ORT ${dtype} ${optimize}${shared ? ' shared' : ''}`
        speed[key] ??= []
        speed[key].push(
          child([
            path.join(here, '..', 'onnx-child.mjs'),
            'ort',
            path.join(work, `onnx-${dtype}-${optimize}`, 'onnx', file),
            String(THREADS),
            String(PROMPT),
            String(NEW),
            ...(shared ? [shared] : []),
          ]),
        )
      }
    }
    console.log(
      `\nONNX export: 110M-class llama (F32 weights), ${THREADS} threads, prompt ${PROMPT}, ${NEW} new tokens, median of ${RUNS}`,
    )
    const st = median(exportMs.safetensors)
    console.log('  write (process wall time)  time (s)   size (MB)   vs safetensors')
    console.log(
      `  safetensors (library)      ${(st / 1000).toFixed(2).padStart(8)}   ${(sizes.safetensors / 1e6).toFixed(1).padStart(9)}`,
    )
    for (const [dtype, optimize] of VARIANTS) {
      const key = `${dtype} ${optimize}`
      const ms = median(exportMs[key])
      console.log(
        `  kiln export onnx ${key.padEnd(10)} ${(ms / 1000).toFixed(2).padStart(8)}   ${(sizes[key] / 1e6).toFixed(1).padStart(9)}   ${(ms / st).toFixed(2)}×`,
      )
    }
    console.log('  run                     prefill tok/s   decode tok/s')
    for (const [name, runs] of Object.entries(speed)) {
      const p = median(runs.map((x) => x.prefill_tokens_per_s))
      const d = median(runs.map((x) => x.decode_tokens_per_s))
      console.log(`  ${name.padEnd(22)}  ${p.toFixed(1).padStart(13)}   ${d.toFixed(1).padStart(12)}`)
    }
    const decode = (k) => median(speed[k].map((x) => x.decode_tokens_per_s))
    for (const dtype of ['fp32', 'q4'])
      console.log(
        `  decode, ort ÷ none at ${dtype}: ${(decode(`ORT ${dtype} ort`) / decode(`ORT ${dtype} none`)).toFixed(2)}×, with the shared KV buffer ${(decode(`ORT ${dtype} ort shared`) / decode(`ORT ${dtype} none`)).toFixed(2)}×`,
      )
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
