// One measurement of bench/sections/onnx.mjs in a fresh process, printing one JSON line:
//   node bench/onnx-child.mjs safetensors MODEL_DIR OUT   time to write MODEL_DIR's weights as OUT
//   node bench/onnx-child.mjs ort FILE THREADS PROMPT NEW [shared]  prefill and greedy decode tokens/s in
//     ONNX Runtime; `shared`: the past is one buffer per layer of PROMPT + NEW positions, bound as
//     the present output too (a GroupQueryAttention graph writes in place, as onnxruntime-genai
//     runs it with past_present_share_buffer)
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [mode, ...args] = process.argv.slice(2)

if (mode === 'safetensors') {
  const [dir, out] = args
  const { openSafetensors, writeSafetensors } = await import(
    path.join(root, 'dist/core/formats/safetensors.js')
  )
  const file = openSafetensors(path.join(dir, 'model.safetensors'))
  const tensors = [...file.tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: t.data,
  }))
  const t0 = performance.now()
  writeSafetensors(out, tensors)
  console.log(JSON.stringify({ ms: performance.now() - t0 }))
} else if (mode === 'ort') {
  const [file, threads, promptTokens, newTokens, mode] = args
  const ort = (await import('onnxruntime-node')).default
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  })
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'))
  const meta = JSON.parse(
    (await import('node:fs')).readFileSync(path.join(path.dirname(file), '..', 'config.json'), 'utf8'),
  )
  const heads = meta.num_key_value_heads ?? meta.num_attention_heads
  const headDim = meta.hidden_size / meta.num_attention_heads
  const V = meta.vocab_size
  const prompt = Array.from({ length: Number(promptTokens) }, (_, i) => (i * 7919 + 13) % V)
  const i64 = (v) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(v, (x) => BigInt(x)),
      [1, v.length],
    )
  const maxLength = Number(promptTokens) + Number(newTokens) + 1
  const generate = async () => {
    const shared =
      mode === 'shared'
        ? Object.fromEntries(
            pastNames.map((n) => [
              n,
              new ort.Tensor('float32', new Float32Array(heads * maxLength * headDim), [
                1,
                heads,
                maxLength,
                headDim,
              ]),
            ]),
          )
        : undefined
    const fetches = shared && {
      logits: null,
      ...Object.fromEntries(pastNames.map((n) => [n.replace('past_key_values', 'present'), shared[n]])),
    }
    let past =
      shared ??
      Object.fromEntries(
        pastNames.map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim])]),
      )
    let input = prompt
    let total = 0
    let prefillMs = 0
    const t0 = performance.now()
    for (let step = 0; step <= Number(newTokens); step++) {
      const feeds = {
        ...past,
        input_ids: i64(input),
        attention_mask: i64(new Array(total + input.length).fill(1)),
        position_ids: i64(input.map((_, i) => total + i)),
      }
      const out = fetches ? await session.run(feeds, fetches) : await session.run(feeds)
      if (step === 0) prefillMs = performance.now() - t0
      total += input.length
      const logits = out.logits.data
      const last = logits.subarray(logits.length - V)
      let next = 0
      for (let j = 1; j < V; j++) if (last[j] > last[next]) next = j
      if (!shared)
        past = Object.fromEntries(pastNames.map((n) => [n, out[n.replace('past_key_values', 'present')]]))
      input = [next]
    }
    const decodeMs = performance.now() - t0 - prefillMs
    return {
      prefill_tokens_per_s: (prompt.length / prefillMs) * 1000,
      decode_tokens_per_s: (Number(newTokens) / decodeMs) * 1000,
    }
  }
  await generate() // warm
  console.log(JSON.stringify(await generate()))
} else {
  console.error('usage: onnx-child.mjs safetensors DIR OUT | ort FILE THREADS PROMPT NEW')
  process.exit(2)
}
