// Fine-tuning speed: tokens/s and peak RSS of one optimizer step (batch 4 × 256 tokens, one
// micro-batch, AdamW) for LoRA (r 16, alpha 32, q/k/v/o) and full fine-tuning of a 20M and the 110M
// random-weight llama (bench/make-model.mjs), 2 threads, f32; beside it the same step in PyTorch on
// the CPU (bench/torch_finetune.py: a plain llama over the same safetensors weights, Debian's
// python3-torch with OpenBLAS, 2 threads). Each measurement is a fresh process (peak RSS is its
// own), runs interleaved kiln/torch, medians of RUNS; each process times STEPS steps after one
// untimed step. `npm run bench -- finetune` runs only this section.
//   KILN_BENCH_FT_RUNS=n   runs per cell (default 3)
//   KILN_BENCH_FT_ONLY=kiln|torch   measure one side only (the other's cells stay empty)
//   KILN_BENCH_FT_METHODS=lora,full,qlora   which rows (default all three)
//   KILN_BENCH_FT_LOSS_CHUNK=n   kiln's loss over vocabulary chunks of n columns (default: whole logits)
// qlora: kiln's LoRA over the same weights quantized to Q4_K_M (a GGUF kiln exports once, cached);
// no PyTorch row beside it (its QLoRA needs bitsandbytes' CUDA kernels). The table's last column
// then gives the weights' bytes: the bound is a third of LoRA-over-F32's.
// Needs /usr/bin/python3 with torch (apt-get install python3-torch libopenblas0-pthread); without it
// the torch columns say so.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BENCH_SHAPE, BENCH_SHAPE_20M, makeBenchModel } from '../make-model.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const bench = path.resolve(here, '..')
const THREADS = 2
const BATCH = 4
const SEQ = 256
const RUNS = Number(process.env.KILN_BENCH_FT_RUNS ?? 3)
const ONLY = process.env.KILN_BENCH_FT_ONLY
const PYTHON = '/usr/bin/python3'
const METHODS = (process.env.KILN_BENCH_FT_METHODS ?? 'lora,full,qlora').split(',')
const root = path.resolve(bench, '..')

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x, d = 1) => (x === undefined ? '—' : x.toFixed(d))

function params({ C, L, NH, NKV, F, V }) {
  const kv = (C / NH) * NKV
  return 2 * V * C + L * (2 * C * C + 2 * C * kv + 3 * C * F + 2 * C) + C
}

function child(cmd, args, env) {
  const p = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 })
  if (p.status !== 0)
    throw new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} failed: ${p.stderr}`)
  return JSON.parse(p.stdout.trim().split('\n').pop())
}

/** The bench model quantized to Q4_K_M by kiln's exporter, once (beside it under .bench/). */
async function q4kmOf(dir) {
  const file = `${dir}-q4_k_m.gguf`
  if (!existsSync(file)) {
    const { exportGguf } = await import(path.join(root, 'dist/core/export/to-gguf.js'))
    exportGguf(dir, file, { dtype: 'q4_k_m' })
  }
  return file
}

function torchAvailable() {
  const p = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' })
  return p.status === 0
}

export async function run() {
  const t0 = performance.now()
  const loadBefore = os.loadavg()[0]
  // PyTorch with OpenBLAS picking its own kernels for this CPU (no forced core type or cache size).
  const torchEnv = { ...process.env }
  delete torchEnv.OPENBLAS_CORETYPE
  delete torchEnv.OPENBLAS_L2_SIZE
  const haveTorch = ONLY !== 'kiln' && torchAvailable()
  const models = [
    { name: '20M', dir: await makeBenchModel('f32', BENCH_SHAPE_20M, 'llama-20m'), shape: BENCH_SHAPE_20M },
    { name: '110M', dir: await makeBenchModel('f32'), shape: BENCH_SHAPE },
  ]
  // Timed steps per process: fewer where a step takes long, to keep the section near 10 minutes.
  const stepsOf = (model) => (model.name === '20M' ? 2 : 1)
  console.log('')
  console.log(`| model | method | kiln tok/s | torch tok/s | ratio | kiln peak RSS MB | torch peak RSS MB |`)
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  const notes = []
  for (const model of models)
    for (const method of METHODS) {
      const steps = stepsOf(model)
      const qlora = method === 'qlora'
      const weights = qlora ? await q4kmOf(model.dir) : model.dir
      const args = [
        weights,
        qlora ? 'lora' : method,
        String(THREADS),
        String(BATCH),
        String(SEQ),
        String(steps),
      ]
      const kiln = []
      const torch = []
      for (let r = 0; r < RUNS; r++) {
        if (ONLY !== 'torch')
          kiln.push(child(process.execPath, [path.join(bench, 'finetune-child.mjs'), ...args]))
        if (haveTorch && !qlora)
          torch.push(child(PYTHON, [path.join(bench, 'torch_finetune.py'), ...args], torchEnv))
      }
      if (qlora) {
        const f32 = statSync(path.join(model.dir, 'model.safetensors')).size
        notes.push(
          `${model.name} qlora: weights ${fmt(statSync(weights).size / 1e6, 0)} MB (Q4_K_M GGUF) against ${fmt(f32 / 1e6, 0)} MB (F32), ${fmt(statSync(weights).size / f32, 2)}×`,
        )
      }
      const m = (runs, k) => (runs.length ? median(runs.map((x) => x[k])) : undefined)
      const kt = m(kiln, 'tokens_per_s')
      const tt = m(torch, 'tokens_per_s')
      const ratio = kt !== undefined && tt !== undefined ? `${fmt(kt / tt, 2)}×` : '—'
      const mb = (runs) => {
        const v = m(runs, 'peak_rss_bytes')
        return v === undefined ? undefined : v / 1e6
      }
      console.log(
        `| ${model.name} | ${method} | ${fmt(kt)} | ${fmt(tt)} | ${ratio} | ${fmt(mb(kiln), 0)} | ${fmt(mb(torch), 0)} |`,
      )
      if (torch.length && kiln.length && kiln[0].trainable !== torch[0].trainable)
        notes.push(
          `${model.name} ${method}: trainable parameters differ (kiln ${kiln[0].trainable}, torch ${torch[0].trainable})`,
        )
    }
  console.log('')
  const shape = (m) =>
    `${m.name}: hidden ${m.shape.C}, ${m.shape.L} layers, ${m.shape.NH}/${m.shape.NKV} heads, ` +
    `intermediate ${m.shape.F}, vocab ${m.shape.V} (${fmt(params(m.shape) / 1e6)}M parameters)`
  console.log(`(${models.map(shape).join('; ')})`)
  console.log(
    `(one step = batch ${BATCH} × ${SEQ} tokens, forward + backward + AdamW, f32, ${THREADS} threads; LoRA r 16, ` +
      `alpha 32 on q/k/v/o; median of ${RUNS} fresh processes each, kiln and torch interleaved; ` +
      `timed steps per process after one untimed step: 20M 2, 110M 1)`,
  )
  if (!haveTorch && ONLY !== 'kiln')
    console.log(`(no PyTorch at ${PYTHON}: apt-get install -y python3-torch libopenblas0-pthread)`)
  for (const n of notes) console.log(`(${n})`)
  // Wall-clock figures: other processes on these cores slow both sides (interleaving spreads it).
  console.log(
    `(section took ${fmt((performance.now() - t0) / 1000, 0)} s; 1-minute load average ${fmt(loadBefore, 1)} at the ` +
      `start, ${fmt(os.loadavg()[0], 1)} at the end, on ${os.cpus().length} cores)`,
  )
}
