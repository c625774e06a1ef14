// One measurement in a fresh process (so load time and peak RSS are this model's alone):
// node bench/engine-child.mjs MODEL_DIR THREADS PROMPT_TOKENS NEW_TOKENS -> one JSON line.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { loadModel } = await import(path.join(root, 'dist/index.js'))
const { native } = await import(path.join(root, 'dist/core/native.js'))
const [dir, threads, promptTokens, newTokens] = process.argv.slice(2)
const t0 = performance.now()
const model = loadModel(dir, {
  threads: Number(threads),
  contextLength: Number(promptTokens) + Number(newTokens) + 1,
})
const loadMs = performance.now() - t0
const V = model.config.vocabSize
const prompt = Array.from({ length: Number(promptTokens) }, (_, i) => (i * 7919 + 13) % V)
const run = async () => {
  const it = model.generate(prompt, { maxNewTokens: Number(newTokens), temperature: 0, eosTokenIds: [] })
  let r = await it.next()
  while (!r.done) r = await it.next()
  return r.value
}
await run() // warm: pages of the mapped weights, thread start-up
native().opProfile() // (KILN_PROFILE=1) drops the warm-up's
const r = await run()
const prof = native().opProfile()
const perStep = (t) => Object.fromEntries(Object.entries(t.ops).map(([op, v]) => [op, v.us_per_step]))
model.dispose()
console.log(
  JSON.stringify({
    load_ms: loadMs,
    prefill_tokens_per_s: r.timings.prefillTokensPerS,
    decode_tokens_per_s: r.timings.decodeTokensPerS,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    ...(prof.enabled ? { profile: { decode: perStep(prof.decode), prefill: perStep(prof.prefill) } } : {}),
  }),
)
