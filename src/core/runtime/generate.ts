// Batched generation over ragged rows: every prompt gets a KV slot, prompts are prefilled in chunks
// of at most maxRows token rows, then each decode step is one native call for all live sequences.
import { InputError, option, UsageError } from '../errors.js'
import type { Model } from './model.js'
import { Sampler, type SamplingOptions, validateSampling } from './sampling.js'
import { firstStop, TextStream } from './text-stream.js'

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default: generation_config's max_new_tokens, else 128). */
  maxNewTokens?: number
  /** EOS is suppressed until this many tokens were generated (as transformers does). */
  minNewTokens?: number
  /** Generation ends when the text contains one of these; the text is cut before it. */
  stop?: string[]
  /** Overrides the EOS ids of generation_config.json / config.json. */
  eosTokenIds?: number[]
  /** Add BOS etc. when encoding a text prompt (default true). */
  addSpecialTokens?: boolean
}

export type FinishReason = 'length' | 'stop' | 'eos'

/** One generated token of sequence `seq`, with the text it completes (may be empty). */
export interface GenerationEvent {
  seq: number
  id: number
  text: string
}

export interface GenerationTimings {
  prefillMs: number
  decodeMs: number
  prefillTokensPerS: number
  decodeTokensPerS: number
}

export interface GenerationResult {
  text: string
  tokens: number[]
  promptTokens: number
  completionTokens: number
  finishReason: FinishReason
  timings: GenerationTimings
}

interface Seq {
  prompt: number[]
  tokens: number[]
  sampler: Sampler
  stream: TextStream
  finish?: FinishReason
}

function resolveOptions(
  model: Model,
  o: GenerateOptions,
): Required<Pick<GenerateOptions, 'maxNewTokens' | 'minNewTokens'>> & GenerateOptions {
  const gen = model.generation
  const sampling: SamplingOptions = {
    temperature: o.temperature ?? (gen.doSample ? (gen.temperature ?? 1) : 0),
    topK: o.topK ?? (gen.doSample ? gen.topK : undefined),
    topP: o.topP ?? (gen.doSample ? gen.topP : undefined),
    minP: o.minP ?? (gen.doSample ? gen.minP : undefined),
    repetitionPenalty: o.repetitionPenalty ?? gen.repetitionPenalty,
    seed: o.seed,
  }
  const maxNewTokens = o.maxNewTokens ?? gen.maxNewTokens ?? 128
  const minNewTokens = o.minNewTokens ?? 0
  const resolved = { ...o, ...sampling, maxNewTokens, minNewTokens }
  validateGenerateOptions(resolved)
  return resolved
}

/** Throws a UsageError for an out-of-range option (before any model work, where callers can). */
export function validateGenerateOptions(o: GenerateOptions): void {
  validateSampling(o)
  const count = (name: 'maxNewTokens' | 'minNewTokens') => {
    const v = o[name]
    if (v !== undefined && !(Number.isInteger(v) && v >= 0))
      throw new UsageError(`${option(name)} must be an integer ≥ 0`)
  }
  count('maxNewTokens')
  count('minNewTokens')
  if (o.stop?.some((s) => s.length === 0)) throw new UsageError(`${option('stop')} strings must not be empty`)
}

export async function* generateBatch(
  model: Model,
  prompts: (string | number[])[],
  options: GenerateOptions,
): AsyncGenerator<GenerationEvent, GenerationResult[]> {
  const o = resolveOptions(model, options)
  if (prompts.length === 0) return []
  const tok = model.tokenizer
  const V = model.config.vocabSize
  const eos = o.eosTokenIds ?? model.generation.eosTokenIds
  const stops = o.stop ?? []
  const baseSeed = o.seed ?? (Math.random() * 2 ** 32) >>> 0

  const seqs: Seq[] = prompts.map((p, i) => {
    const ids =
      typeof p === 'string' ? tok.encode(p, { addSpecialTokens: o.addSpecialTokens ?? true }) : [...p]
    if (ids.length === 0)
      throw new InputError(`prompt ${prompts.length > 1 ? `${i + 1} ` : ''}is empty (no tokens)`)
    for (const id of ids)
      if (!(Number.isInteger(id) && id >= 0 && id < V))
        throw new InputError(`token id ${id} is outside the vocabulary (0..${V - 1})`)
    if (ids.length >= model.config.maxPositions) {
      throw new InputError(
        `prompt has ${ids.length} tokens; the model's context is ${model.config.maxPositions} positions`,
      )
    }
    return {
      prompt: ids,
      tokens: [],
      sampler: new Sampler(o, ids, (baseSeed + i) >>> 0),
      stream: new TextStream(tok, stops),
    }
  })
  const longest = Math.max(...seqs.map((s) => s.prompt.length))
  model.ensureGraph(seqs.length, Math.min(model.config.maxPositions, longest + Math.max(1, o.maxNewTokens)))
  const context = model.contextLength

  // Appends a sampled token; returns the text that is now safe to show.
  const accept = (s: Seq, id: number): string => {
    s.tokens.push(id)
    let text = ''
    if (eos.includes(id)) s.finish = 'eos'
    else {
      text = s.stream.push(id)
      if (s.stream.stopped) s.finish = 'stop'
    }
    if (!s.finish && s.tokens.length >= o.maxNewTokens) s.finish = 'length'
    if (!s.finish && s.prompt.length + s.tokens.length >= context) s.finish = 'length'
    if (s.finish && s.finish !== 'stop') text += s.stream.end()
    return text
  }
  // The summary's text is the whole decode, as transformers gives it (streaming never takes back text
  // it printed, so an invalid byte run can stream differently), cut at the first stop string.
  const finalText = (s: Seq): string => {
    const text = tok.decode(s.finish === 'eos' ? s.tokens.slice(0, -1) : s.tokens, {
      skipSpecialTokens: true,
    })
    if (s.finish !== 'stop') return text
    const at = firstStop(text, stops)
    return at >= 0 ? text.slice(0, at) : s.stream.text
  }
  const suppressFor = (s: Seq) => (s.tokens.length < o.minNewTokens ? eos : [])

  // Prefill: all prompt rows, packed into chunks; the last row of each prompt yields logits.
  const t0 = performance.now()
  const rows: { seq: number; pos: number; id: number }[] = []
  for (let i = 0; i < seqs.length; i++) {
    for (let pos = 0; pos < seqs[i].prompt.length; pos++) rows.push({ seq: i, pos, id: seqs[i].prompt[pos] })
  }
  const first: (Float32Array | undefined)[] = new Array(seqs.length)
  for (let c = 0; c < rows.length; c += model.maxRows) {
    const chunk = rows.slice(c, c + model.maxRows)
    const outIdx: number[] = []
    const outSeq: number[] = []
    chunk.forEach((r, j) => {
      if (r.pos === seqs[r.seq].prompt.length - 1) {
        outIdx.push(j)
        outSeq.push(r.seq)
      }
    })
    const logits = await model.step(
      Int32Array.from(chunk, (r) => r.id),
      Int32Array.from(chunk, (r) => r.pos),
      Int32Array.from(chunk, (r) => r.seq),
      Int32Array.from(outIdx),
    )
    outSeq.forEach((si, j) => {
      first[si] = logits.subarray(j * V, (j + 1) * V)
    })
  }
  const prefillMs = performance.now() - t0

  const t1 = performance.now()
  let decoded = 0
  if (o.maxNewTokens > 0) {
    for (let i = 0; i < seqs.length; i++) {
      const s = seqs[i]
      const id = s.sampler.next(first[i]!, suppressFor(s))
      const text = accept(s, id)
      yield { seq: i, id, text }
    }
  } else {
    for (const s of seqs) s.finish = 'length'
  }
  for (;;) {
    const live = seqs.map((_, i) => i).filter((i) => !seqs[i].finish)
    if (live.length === 0) break
    // One step per group of at most maxRows sequences (a step carries one row per sequence).
    for (let g = 0; g < live.length; g += model.maxRows) {
      const group = live.slice(g, g + model.maxRows)
      const logits = await model.step(
        Int32Array.from(group, (i) => seqs[i].tokens[seqs[i].tokens.length - 1]),
        Int32Array.from(group, (i) => seqs[i].prompt.length + seqs[i].tokens.length - 1),
        Int32Array.from(group),
        Int32Array.from(group, (_, j) => j),
      )
      decoded += group.length
      for (let j = 0; j < group.length; j++) {
        const s = seqs[group[j]]
        const id = s.sampler.next(logits.subarray(j * V, (j + 1) * V), suppressFor(s))
        yield { seq: group[j], id, text: accept(s, id) }
      }
    }
  }
  const decodeMs = performance.now() - t1
  const timings: GenerationTimings = {
    prefillMs,
    decodeMs,
    prefillTokensPerS: prefillMs > 0 ? (rows.length / prefillMs) * 1000 : 0,
    decodeTokensPerS: decodeMs > 0 ? (decoded / decodeMs) * 1000 : 0,
  }
  return seqs.map((s) => ({
    text: finalText(s),
    tokens: s.tokens,
    promptTokens: s.prompt.length,
    completionTokens: s.tokens.length,
    finishReason: s.finish ?? 'length',
    timings,
  }))
}
