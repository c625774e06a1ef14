// Generation's options and results, and generateMany's batch: every prompt gets a KV slot and the
// scheduler runs them (prefill chunks and decode rows packed into shared steps).
import type { ResponseFormat } from '../constrain/index.js'
import { InputError } from '../errors.js'
import { resolveGenerateOptions } from './generate-options.js'
import type { Model } from './model.js'
import type { PositionLogprobs, SamplingOptions, TokenLogprob } from './sampling.js'
import { Scheduler } from './scheduler.js'

export { validateGenerateOptions } from './generate-options.js'

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
  /**
   * Constrains the output: any JSON object (json_object), or JSON matching a schema (json_schema).
   * Generation then ends as soon as the JSON is complete.
   */
  responseFormat?: ResponseFormat
  /** Which of the model's named adapters (LoadOptions.adapters) runs this request; absent: the base. */
  adapter?: string
  /**
   * Report each prompt token's log-probability given the tokens before it, and this many most
   * likely alternatives (0–20), as scoring a text needs (OpenAI's echo with logprobs). The prompt's
   * leading blocks are then computed rather than taken from the prefix cache: their logits are
   * needed. maxNewTokens may be 0: the prompt is scored and nothing generated.
   */
  promptLogprobs?: number
}

export type FinishReason = 'length' | 'stop' | 'eos'

/** One generated token of sequence `seq`, with the text it completes (may be empty). */
export interface GenerationEvent {
  seq: number
  id: number
  text: string
  /** With the logprobs option: the token's log-probability and the most likely alternatives. */
  logprob?: number
  topLogprobs?: TokenLogprob[]
  /** With the promptLogprobs option, on the sequence's first event: as GenerationResult's. */
  promptLogprobs?: PromptLogprobs
}

/** Per prompt position, its token's log-probability and alternatives; null at position 0 (nothing precedes it). */
export type PromptLogprobs = (PositionLogprobs | null)[]

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
  /** With the logprobs option: per generated token, its log-probability and the alternatives. */
  logprobs?: { logprob: number; top: TokenLogprob[] }[]
  /** With the promptLogprobs option: one entry per prompt token, the first null. */
  promptLogprobs?: PromptLogprobs
}

/**
 * Generates for several prompts at once: a client of the scheduler, with one KV slot per prompt and
 * a context long enough for the longest prompt and maxNewTokens. Events come as steps produce them.
 */
export async function* generateBatch(
  model: Model,
  prompts: (string | number[])[],
  options: GenerateOptions,
): AsyncGenerator<GenerationEvent, GenerationResult[]> {
  const o = resolveGenerateOptions(model, options)
  if (prompts.length === 0) return []
  const tok = model.tokenizer
  const ids = prompts.map((p) =>
    typeof p === 'string' ? tok.encode(p, { addSpecialTokens: o.addSpecialTokens ?? true }) : p,
  )
  const longest = Math.max(...ids.map((p) => p.length))
  const max = model.config.maxPositions
  for (const [i, p] of ids.entries())
    if (p.length >= max)
      throw new InputError(
        `prompt ${prompts.length > 1 ? `${i + 1} ` : ''}has ${p.length} tokens; the model's context is ${max} positions`,
      )
  const context = Math.min(max, Math.max(longest + Math.max(1, o.maxNewTokens), model.contextLength))
  const scheduler = new Scheduler(model, { maxSeqs: prompts.length, contextLength: context })
  try {
    // One seed for the batch: prompt i samples with seed + i, as a batch always has.
    const seed = o.seed ?? (Math.random() * 2 ** 32) >>> 0
    const seqs = ids.map((p, i) =>
      scheduler.submit(p, { ...o, seed }, { index: prompts.length > 1 ? i : undefined }),
    )
    yield* mergeEvents(seqs.map((s) => s.events))
    return await Promise.all(seqs.map((s) => s.result))
  } finally {
    scheduler.close()
  }
}

/** The events of several sequences in the order they arrive. */
async function* mergeEvents(streams: AsyncIterable<GenerationEvent>[]): AsyncGenerator<GenerationEvent> {
  const its = streams.map((s) => s[Symbol.asyncIterator]())
  const next = (i: number) => its[i].next().then((r) => ({ i, r }))
  const pending = new Map(its.map((_, i) => [i, next(i)]))
  while (pending.size) {
    const { i, r } = await Promise.race(pending.values())
    if (r.done) pending.delete(i)
    else {
      pending.set(i, next(i))
      yield r.value
    }
  }
}
