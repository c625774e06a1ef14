// One fine-tuning measurement in a fresh process (so peak RSS is this configuration's alone):
// node bench/finetune-child.mjs MODEL lora|full THREADS BATCH SEQ STEPS -> one JSON line (MODEL: a
// folder, or a GGUF file for LoRA over it, QLoRA when its weights are quantized).
// Drives the library's TrainSession as `kiln finetune` does: one optimizer step = one micro-batch of
// BATCH sequences of SEQ tokens (one native run with targets), then the AdamW update. One untimed
// step first (pages of the mapped weights, thread start-up); then STEPS timed steps.
// LoRA: r 16, alpha 32 on q_proj, k_proj, v_proj, o_proj.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dist = (p) => import(path.join(root, 'dist', p))
const { openModelSource } = await dist('index.js')
const { TrainSession } = await dist('core/train/train-session.js')
const { initLora } = await dist('core/train/lora-init.js')

const [dir, method, threads, batch, seq, steps] = process.argv.slice(2)
const B = Number(batch)
const T = Number(seq)
const t0 = performance.now()
const source = openModelSource(dir)
const session = new TrainSession(source, {
  method,
  lora: { rank: 16, alpha: 32, target: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  maxRows: B * T,
  threads: Number(threads),
  // KILN_BENCH_FT_LOSS_CHUNK=n: the loss over vocabulary chunks of n columns (TrainSessionOptions.lossChunk).
  lossChunk: process.env.KILN_BENCH_FT_LOSS_CHUNK ? Number(process.env.KILN_BENCH_FT_LOSS_CHUNK) : undefined,
})
if (method === 'lora') for (const [p, init] of initLora(session.params, 1)) session.write(p.id, init)
const loadMs = performance.now() - t0

// Random token ids, fixed per step: speed does not depend on the values.
const V = source.config.vocabSize
let x = 12345
const nextId = () => {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0
  return x % V
}
const makeBatch = () =>
  Array.from({ length: B }, () => {
    const ids = Array.from({ length: T }, nextId)
    return { ids, labels: ids }
  })
const adam = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 }
const step = async (examples) => {
  const loss = await session.step(examples)
  session.update(adam, loss.tokens)
  return loss
}

await step(makeBatch())
const times = []
let loss = 0
for (let s = 0; s < Number(steps); s++) {
  const examples = makeBatch()
  const a = performance.now()
  const l = await step(examples)
  times.push(performance.now() - a)
  loss = l.lossSum / l.tokens
}
const activationBytes = session.activationBytes
session.dispose()
const total = times.reduce((a, b) => a + b, 0)
console.log(
  JSON.stringify({
    load_ms: loadMs,
    step_ms: times,
    tokens_per_s: (B * T * times.length) / (total / 1000),
    loss,
    trainable: session.trainableParameters,
    activation_bytes: activationBytes,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  }),
)
