// Generation options as the user gives them, resolved against the model's generation_config.json
// and checked, before any model work.
import { compileResponseFormat } from '../constrain/index.js'
import { option, UsageError } from '../errors.js'
import type { GenerateOptions } from './generate.js'
import type { Model } from './model.js'
import { MAX_LOGPROBS, type SamplingOptions, validateSampling } from './sampling.js'

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
  model.adapterTag(o.adapter) // an adapter the model does not have is refused here
  const vocab = model.config.vocabSize
  for (const id of Object.keys(o.logitBias ?? {}))
    if (Number(id) >= vocab)
      throw new UsageError(`${option('logitBias')} names token ${id}; the vocabulary has ${vocab}`)
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
  const k = o.promptLogprobs
  if (k !== undefined && !(Number.isInteger(k) && k >= 0 && k <= MAX_LOGPROBS))
    throw new UsageError(`${option('promptLogprobs')} must be an integer from 0 to ${MAX_LOGPROBS}`)
  if (o.stop?.some((s) => s.length === 0)) throw new UsageError(`${option('stop')} strings must not be empty`)
  const format = o.responseFormat
  if (format !== undefined && !['text', 'json_object', 'json_schema'].includes(format?.type))
    throw new UsageError(`${option('responseFormat')} type must be text, json_object or json_schema`)
  compileResponseFormat(format) // a schema kiln cannot enforce is refused before any model work
}
