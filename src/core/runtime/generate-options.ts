// Generation options as the user gives them, resolved against the model's generation_config.json
// and checked, before any model work.
import { option, UsageError } from '../errors.js'
import type { GenerateOptions } from './generate.js'
import type { Model } from './model.js'
import { type SamplingOptions, validateSampling } from './sampling.js'

export type ResolvedGenerateOptions = Required<Pick<GenerateOptions, 'maxNewTokens' | 'minNewTokens'>> &
  GenerateOptions

export function resolveGenerateOptions(model: Model, o: GenerateOptions): ResolvedGenerateOptions {
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
