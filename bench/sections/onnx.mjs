// npm run bench -- onnx: kiln's ONNX export of the 110M-class llama (bench/make-model.mjs, F32),
// side by side in one run:
//   - export time (kiln export --format onnx, without validation, fp32 and q4) beside writing the
//     same weights as safetensors (the library's writer), and the files' sizes;
//   - prefill and decode tokens/s of the exports in ONNX Runtime (onnxruntime-node, 2 intra-op
//     threads, its default graph optimizations) beside kiln's native engine on the same weights.
// Same prompt ids (64), 128 greedy decode steps through the export's own past, medians of RUNS,
// each measurement in a fresh process.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
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
    const exportMs = { fp32: [], q4: [], safetensors: [] }
    for (let r = 0; r < RUNS; r++) {
      for (const dtype of ['fp32', 'q4']) {
        const out = path.join(work, `onnx-${dtype}`)
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
            '-o',
            out,
            '--force',
            '--no-validate',
            '--quiet',
          ],
          { encoding: 'utf8' },
        )
        if (p.status !== 0) throw new Error(`export failed: ${p.stderr}`)
        exportMs[dtype].push(performance.now() - t0)
      }
      const st = child([
        path.join(here, '..', 'onnx-child.mjs'),
        'safetensors',
        model,
        path.join(work, 'copy.safetensors'),
      ])
      exportMs.safetensors.push(st.ms)
    }
    const sizes = {
      fp32: folderBytes(path.join(work, 'onnx-fp32', 'onnx')),
      q4: folderBytes(path.join(work, 'onnx-q4', 'onnx')),
      safetensors: statSync(path.join(work, 'copy.safetensors')).size,
    }
    // Speed: kiln native, then ONNX Runtime on each export, interleaved by run.
    const speed = { kiln: [], 'ort fp32': [], 'ort q4': [] }
    for (let r = 0; r < RUNS; r++) {
      speed.kiln.push(
        child([
          path.join(root, 'bench', 'engine-child.mjs'),
          model,
          String(THREADS),
          String(PROMPT),
          String(NEW),
        ]),
      )
      for (const [name, file] of [
        ['ort fp32', path.join(work, 'onnx-fp32', 'onnx', 'model.onnx')],
        ['ort q4', path.join(work, 'onnx-q4', 'onnx', 'model_q4.onnx')],
      ])
        speed[name].push(
          child([
            path.join(here, '..', 'onnx-child.mjs'),
            'ort',
            file,
            String(THREADS),
            String(PROMPT),
            String(NEW),
          ]),
        )
    }
    console.log(
      `\nONNX export: 110M-class llama (F32 weights), ${THREADS} threads, prompt ${PROMPT}, ${NEW} new tokens, median of ${RUNS}`,
    )
    const st = median(exportMs.safetensors)
    console.log('  write                   time (s)   size (MB)   vs safetensors')
    console.log(
      `  safetensors (library)   ${(st / 1000).toFixed(2).padStart(8)}   ${(sizes.safetensors / 1e6).toFixed(1).padStart(9)}`,
    )
    for (const d of ['fp32', 'q4']) {
      const ms = median(exportMs[d])
      console.log(
        `  kiln export onnx ${d.padEnd(5)}  ${(ms / 1000).toFixed(2).padStart(8)}   ${(sizes[d] / 1e6).toFixed(1).padStart(9)}   ${(ms / st).toFixed(2)}×`,
      )
    }
    console.log('  run                     prefill tok/s   decode tok/s')
    for (const [name, runs] of Object.entries(speed)) {
      const p = median(runs.map((x) => x.prefill_tokens_per_s))
      const d = median(runs.map((x) => x.decode_tokens_per_s))
      console.log(`  ${name.padEnd(22)}  ${p.toFixed(1).padStart(13)}   ${d.toFixed(1).padStart(12)}`)
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
