// One llama.cpp measurement in a fresh process (so load and page-cache state are this model's alone):
// node bench/llamacpp-child.mjs GGUF THREADS PROMPT_TOKENS NEW_TOKENS -> one JSON line.
import { loadLlamaCpp } from './llamacpp.mjs'

const [ggufPath, threadsArg, promptArg, newArg] = process.argv.slice(2)
const threads = Number(threadsArg)
const P = Number(promptArg)
const N = Number(newArg)

const nlc = await loadLlamaCpp()
if (!nlc) {
  console.error('node-llama-cpp is not installed (npm i -D node-llama-cpp, or set KILN_NODE_LLAMA_CPP)')
  process.exit(2)
}
const logs = []
const llama = await nlc.getLlama({
  gpu: false,
  build: 'never',
  maxThreads: threads,
  logLevel: nlc.LlamaLogLevel.info,
  logger: (_level, message) => logs.push(message),
})
const t0 = performance.now()
const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 })
const loadMs = performance.now() - t0
const V = model.fileInfo.metadata.tokenizer.ggml.tokens.length
const context = await model.createContext({
  contextSize: P + N + 1,
  // One batch holds the whole prompt, so prefill is one forward, as in kiln.
  batchSize: Math.max(64, P),
  threads: { ideal: threads, min: threads },
  sequences: 1,
  performanceTracking: true,
})
const sequence = context.getSequence()
const prompt = Array.from({ length: P }, (_, i) => (i * 7919 + 13) % V)

// Prefill = prompt forward + first sample (time to the first token); decode = each later token.
async function run() {
  await sequence.clearHistory()
  const start = performance.now()
  let first = start
  let n = 0
  for await (const _token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    n++
    if (n === 1) first = performance.now()
    if (n >= N) break
  }
  const end = performance.now()
  return {
    prefill_tokens_per_s: (P / (first - start)) * 1000,
    decode_tokens_per_s: N > 1 ? ((N - 1) / (end - first)) * 1000 : 0,
    tokens: n,
  }
}

await run() // warm: pages of the mapped weights, thread start-up
// printTimings prints llama.cpp's own timers and resets them: this drops the warm-up's.
await context.printTimings()
logs.length = 0
const r = await run()
await context.printTimings()
const perf = parseTimings(logs.join('\n'))
await context.dispose()
await model.dispose()
await llama.dispose()
console.log(
  JSON.stringify({
    load_ms: loadMs,
    prefill_tokens_per_s: r.prefill_tokens_per_s,
    decode_tokens_per_s: r.decode_tokens_per_s,
    ...perf,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    // CPU seconds this process used; against the machine's busy time it shows outside interference.
    cpu_s: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  }),
)

/** llama_perf_context_print's "prompt eval time = X ms / N tokens" and "eval time = X ms / N runs". */
function parseTimings(text) {
  const out = {}
  const pe = /prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/.exec(text)
  const ev = /\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(text.replace(/prompt eval time[^\n]*/, ''))
  if (pe && Number(pe[2]) > 0) out.llama_prefill_tokens_per_s = (Number(pe[2]) / Number(pe[1])) * 1000
  if (ev && Number(ev[2]) > 0) out.llama_decode_tokens_per_s = (Number(ev[2]) / Number(ev[1])) * 1000
  return out
}
