// Sampling options as the user gives them, resolved against generation_config.json, and the
// per-sequence state (seeded generator, history) that picks each next token in native code.
import { option, UsageError } from '../errors.js'
import { native } from '../native.js'
import { shown } from '../util/shown.js'
import { Rng } from './rng.js'

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature?: number
  topK?: number
  topP?: number
  minP?: number
  repetitionPenalty?: number
  /** OpenAI's: each generated token's logit minus this × the times it was generated (−2..2). */
  frequencyPenalty?: number
  /** OpenAI's: each generated token's logit minus this once it was generated at all (−2..2). */
  presencePenalty?: number
  seed?: number
  /** OpenAI's logit_bias: token id → a bias in [-100, 100] added to its logit before sampling. */
  logitBias?: Record<number, number>
  /**
   * Report each generated token's log-probability and this many most likely alternatives (0–20),
   * under the model's own distribution (the logits before bias, constraint, penalties, temperature).
   */
  logprobs?: number
}

/** Most alternatives logprobs may ask for (OpenAI's top_logprobs limit). */
export const MAX_LOGPROBS = 20

/** A token and its log-probability. */
export interface TokenLogprob {
  id: number
  logprob: number
}

/** What the sampler picked, with its log-probabilities when they were asked for. */
export interface TokenChoice {
  id: number
  logprob?: number
  /** The most likely tokens, most likely first. */
  top?: TokenLogprob[]
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (name: keyof SamplingOptions, what: string) => {
    throw new UsageError(`${option(name)} ${what}`)
  }
  // The native sampler takes float32: a positive double below 1.4e-45 is 0 there, one past 3.4e38
  // is infinite, so the bounds are checked on the float32 value.
  const f32 = Math.fround
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(f32(o.temperature))))
    bad('temperature', 'must be ≥ 0 and finite')
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    bad('topK', 'must be an integer ≥ 0')
  if (o.topP !== undefined && !(f32(o.topP) > 0 && o.topP <= 1)) bad('topP', 'must be in (0, 1]')
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) bad('minP', 'must be in [0, 1]')
  if (
    o.repetitionPenalty !== undefined &&
    !(f32(o.repetitionPenalty) > 0 && Number.isFinite(f32(o.repetitionPenalty)))
  )
    bad('repetitionPenalty', 'must be > 0 and finite')
  for (const name of ['frequencyPenalty', 'presencePenalty'] as const) {
    const v = o[name]
    if (v !== undefined && !(v >= -2 && v <= 2)) bad(name, 'must be in [-2, 2]')
  }
  if (
    o.logprobs !== undefined &&
    !(Number.isInteger(o.logprobs) && o.logprobs >= 0 && o.logprobs <= MAX_LOGPROBS)
  )
    bad('logprobs', `must be an integer from 0 to ${MAX_LOGPROBS}`)
  if (o.logitBias !== undefined) {
    if (typeof o.logitBias !== 'object' || o.logitBias === null)
      bad('logitBias', 'must map token ids to biases')
    for (const [id, bias] of Object.entries(o.logitBias)) {
      if (!/^(0|[1-9]\d{0,9})$/.test(id)) bad('logitBias', `has a key that is not a token id (${shown(id)})`)
      if (!(typeof bias === 'number' && bias >= -100 && bias <= 100))
        bad('logitBias', `values must be numbers in [-100, 100] (token ${id}: ${shown(bias)})`)
    }
  }
}

export class Sampler {
  private readonly rng: Rng
  private readonly history: number[]
  private readonly promptLength: number
  private readonly biasIds?: Int32Array
  private readonly biasValues?: Float32Array

  constructor(
    private readonly opts: SamplingOptions,
    prompt: number[],
    seed: number,
  ) {
    this.rng = new Rng(seed)
    this.history = [...prompt]
    this.promptLength = prompt.length
    const bias = Object.entries(opts.logitBias ?? {})
    if (bias.length) {
      this.biasIds = Int32Array.from(bias, ([id]) => Number(id))
      this.biasValues = Float32Array.from(bias, ([, v]) => v)
    }
  }

  /** Picks the next token from one row of logits (modified in place). */
  next(logits: Float32Array, suppress: number[]): number {
    return this.choose(logits, suppress).id
  }

  /**
   * Picks the next token from one row of logits (modified in place), among the ids `allow` sets
   * when given (constrained decoding), with its log-probabilities when the options ask for them.
   */
  choose(logits: Float32Array, suppress: number[], allow?: Uint32Array): TokenChoice {
    const o = this.opts
    // A temperature too small for float32 is 0 there: greedy, as 0 is.
    const greedy = !Math.fround(o.temperature ?? 0)
    const k = o.logprobs === undefined ? -1 : Math.min(o.logprobs, logits.length)
    const logprobs = k >= 0 ? new Float32Array(1 + k) : undefined
    const logprobIds = k >= 0 ? new Int32Array(k) : undefined
    const id = native().sampleToken(logits, {
      temperature: greedy ? 0 : o.temperature,
      topK: greedy ? 0 : o.topK,
      topP: greedy ? 1 : o.topP,
      minP: greedy ? 0 : o.minP,
      repetitionPenalty: o.repetitionPenalty,
      history: o.repetitionPenalty && o.repetitionPenalty !== 1 ? Int32Array.from(this.history) : undefined,
      frequencyPenalty: o.frequencyPenalty,
      presencePenalty: o.presencePenalty,
      generated:
        o.frequencyPenalty || o.presencePenalty
          ? Int32Array.from(this.history.slice(this.promptLength))
          : undefined,
      suppress: suppress.length ? Int32Array.from(suppress) : undefined,
      allow,
      biasIds: this.biasIds,
      biasValues: this.biasValues,
      uniform: greedy ? 0 : this.rng.uniform(),
      logprobs,
      logprobIds,
    })
    this.history.push(id)
    if (!logprobs || !logprobIds) return { id }
    return { id, logprob: logprobs[0], top: topLogprobs(logprobs, logprobIds) }
  }
}

/** One token's log-probability with the most likely alternatives, most likely first. */
export interface PositionLogprobs {
  logprob: number
  top: TokenLogprob[]
}

/**
 * The log-probability of token `id` under one row of logits (unchanged), and the `k` most likely
 * tokens' — for a token that was given, not sampled (a prompt's), as choose() reports a sampled one.
 */
export function tokenLogprobs(logits: Float32Array, id: number, k: number): PositionLogprobs {
  const ids = new Int32Array(Math.min(k, logits.length))
  const values = new Float32Array(1 + ids.length)
  native().tokenLogprobs(logits, id, values, ids)
  return { logprob: values[0], top: topLogprobs(values, ids) }
}

function topLogprobs(values: Float32Array, ids: Int32Array): TokenLogprob[] {
  return Array.from(ids, (t, j) => ({ id: t, logprob: values[1 + j] }))
}
