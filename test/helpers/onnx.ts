// Driving an exported decoder in ONNX Runtime as its generation loop does: feeds for one step of a
// single sequence (ids after `past` cached positions), an empty past of the graph's own inputs,
// and greedy decoding through the graph's present tensors.
import path from 'node:path'
import ort from 'onnxruntime-node'
import { golden, readJson } from './fixtures.js'

export interface KvShape {
  /** KV heads and head size: a past tensor is (1, heads, positions, headDim). */
  heads: number
  headDim: number
  half?: boolean
}

/** The KV shape of a golden decoder fixture, from its config.json (llama and GPT-2 names). */
export function goldenKvShape(model: string): KvShape {
  const cfg = readJson<Record<string, number>>(path.join(golden(model), 'config.json'))
  const heads = cfg.num_attention_heads ?? cfg.n_head
  return { heads: cfg.num_key_value_heads ?? heads, headDim: (cfg.hidden_size ?? cfg.n_embd) / heads }
}

export function i64(values: number[], dims = [1, values.length]): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  )
}

/** input_ids, attention_mask and position_ids for `ids` following `past` cached positions. */
export function stepFeeds(ids: number[], past = 0): Record<string, ort.Tensor> {
  return {
    input_ids: i64(ids),
    attention_mask: i64(new Array(past + ids.length).fill(1)),
    position_ids: i64(ids.map((_, i) => past + i)),
  }
}

/** An empty past (no positions) for every past_key_values input of `session`. */
export function emptyPast(session: ort.InferenceSession, kv: KvShape): Record<string, ort.Tensor> {
  const dims = [1, kv.heads, 0, kv.headDim]
  const empty = () =>
    kv.half
      ? new ort.Tensor('float16', new Uint16Array(0), dims)
      : new ort.Tensor('float32', new Float32Array(0), dims)
  return Object.fromEntries(
    session.inputNames.filter((n) => n.startsWith('past_key_values.')).map((n) => [n, empty()]),
  )
}

/** The present tensors of `out` as the next step's past. */
export function nextPast(session: ort.InferenceSession, out: ort.InferenceSession.ReturnType) {
  return Object.fromEntries(
    session.inputNames
      .filter((n) => n.startsWith('past_key_values.'))
      .map((n) => [n, out[n.replace('past_key_values', 'present')]]),
  )
}

/**
 * Greedy ids of `prompt` through the graph's own past, one sequence (float32 logits). With
 * `shared`, the past is one buffer of that many positions per layer, bound as the present output
 * too, as onnxruntime-genai runs a GroupQueryAttention graph with past_present_share_buffer: the
 * attention writes the new keys and values in place instead of returning a longer copy.
 */
export async function greedyOrt(
  file: string,
  prompt: number[],
  steps: number,
  kv: KvShape,
  shared?: number,
): Promise<number[]> {
  const session = await ort.InferenceSession.create(file)
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'))
  const buffers =
    shared === undefined
      ? undefined
      : Object.fromEntries(
          pastNames.map((n) => [
            n,
            new ort.Tensor('float32', new Float32Array(kv.heads * shared * kv.headDim), [
              1,
              kv.heads,
              shared,
              kv.headDim,
            ]),
          ]),
        )
  const fetches = buffers && {
    logits: null,
    ...Object.fromEntries(pastNames.map((n) => [n.replace('past_key_values', 'present'), buffers[n]])),
  }
  let past = buffers ?? emptyPast(session, kv)
  const ids: number[] = []
  let input = prompt
  let total = 0
  for (let s = 0; s < steps; s++) {
    const feeds = { ...past, ...stepFeeds(input, total) }
    const out = fetches ? await session.run(feeds, fetches) : await session.run(feeds)
    total += input.length
    const logits = out.logits.data as Float32Array
    const V = logits.length / input.length
    const last = logits.subarray(logits.length - V)
    let next = 0
    for (let j = 1; j < V; j++) if (last[j] > last[next]) next = j
    ids.push(next)
    input = [next]
    if (!buffers) past = nextPast(session, out)
  }
  await session.release()
  return ids
}
