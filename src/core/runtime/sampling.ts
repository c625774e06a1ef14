// Sampling options as the user gives them, resolved against generation_config.json, and the
// per-sequence state (seeded generator, history) that picks each next token in native code.
import { option, UsageError } from '../errors.js'
import { native } from '../native.js'
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
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (name: keyof SamplingOptions, what: string) => {
    throw new UsageError(`${option(name)} ${what}`)
  }
  if (o.temperature !== undefined && !(o.temperature >= 0)) bad('temperature', 'must be ≥ 0')
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    bad('topK', 'must be an integer ≥ 0')
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', 'must be in (0, 1]')
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) bad('minP', 'must be in [0, 1]')
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) bad('repetitionPenalty', 'must be > 0')
  for (const name of ['frequencyPenalty', 'presencePenalty'] as const) {
    const v = o[name]
    if (v !== undefined && !(v >= -2 && v <= 2)) bad(name, 'must be in [-2, 2]')
  }
}

export class Sampler {
  private readonly rng: Rng
  private readonly history: number[]
  private readonly promptLength: number

  constructor(
    private readonly opts: SamplingOptions,
    prompt: number[],
    seed: number,
  ) {
    this.rng = new Rng(seed)
    this.history = [...prompt]
    this.promptLength = prompt.length
  }

  /** Picks the next token from one row of logits (modified in place). */
  next(logits: Float32Array, suppress: number[]): number {
    const o = this.opts
    const greedy = !o.temperature
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
      uniform: greedy ? 0 : this.rng.uniform(),
    })
    this.history.push(id)
    return id
  }
}
