// The OpenAI sampling fields of a request as core's GenerateOptions, and the checks that are the
// HTTP API's own (n, the number of stop strings, fields this server does not do). Ranges of the
// options themselves are core's to check (validateGenerateOptions), named back as HTTP fields.

import type { ResponseFormat } from '../core/constrain/index.js'
import type { GenerateOptions } from '../core/runtime/generate.js'
import { validateGenerateOptions } from '../core/runtime/generate.js'
import { type FieldName, HttpError, httpField, toHttpError, unsupported } from './errors.js'
import type { ChatRequest, CompletionRequest } from './validate.js'

/** Choices per prompt at most: each is a sequence holding a KV slot. */
export const MAX_N = 16
/** OpenAI's limit on stop strings. */
export const MAX_STOP = 4

type GenerationRequest = CompletionRequest | ChatRequest

/** Names options as this request's fields (max_completion_tokens where the client used it). */
export function fieldNames(overrides: Record<string, string> = {}): FieldName {
  return (option) => overrides[option] ?? httpField(option)
}

/**
 * Core's options for a request, checked by core (a UsageError becomes a 400 naming the field).
 * `maxNewTokens` is the route's: completions and chats default it differently.
 */
export function generateOptions(
  req: GenerationRequest,
  maxNewTokens: number,
  field: FieldName,
): GenerateOptions {
  const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop
  if (stop.length > MAX_STOP)
    throw new HttpError(
      400,
      `stop may hold at most ${MAX_STOP} strings (got ${stop.length})`,
      'stop',
      'invalid_value',
    )
  const options: GenerateOptions = {
    maxNewTokens,
    minNewTokens: req.min_tokens ?? undefined,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    // vLLM's clients say -1 for "no top-k"; core says 0.
    topK: req.top_k === -1 ? 0 : (req.top_k ?? undefined),
    minP: req.min_p ?? undefined,
    repetitionPenalty: req.repetition_penalty ?? undefined,
    frequencyPenalty: req.frequency_penalty ?? undefined,
    presencePenalty: req.presence_penalty ?? undefined,
    seed: req.seed ?? undefined,
    stop: stop.length ? stop : undefined,
    addSpecialTokens: req.add_special_tokens ?? undefined,
    // No EOS ids: the sequence ends at max_tokens, a stop string or the context.
    eosTokenIds: req.ignore_eos ? [] : undefined,
    logitBias:
      req.logit_bias && Object.keys(req.logit_bias).length
        ? (req.logit_bias as Record<number, number>)
        : undefined,
    logprobs: logprobCount(req),
    // Completions with echo show the prompt's tokens with their log-probabilities too.
    promptLogprobs: 'prompt' in req && req.echo ? (req.logprobs ?? undefined) : undefined,
    responseFormat: responseFormat(req),
  }
  try {
    validateGenerateOptions(options)
  } catch (e) {
    throw toHttpError(e, { field })
  }
  return options
}

/** n, checked: 1 to MAX_N. */
export function choicesPerPrompt(req: GenerationRequest): number {
  const n = req.n ?? 1
  if (n < 1 || n > MAX_N)
    throw new HttpError(400, `n must be an integer from 1 to ${MAX_N} (got ${n})`, 'n', 'invalid_value')
  return n
}

/** How many alternatives per token the request asks for (undefined: no logprobs). */
function logprobCount(req: GenerationRequest): number | undefined {
  if ('prompt' in req) return req.logprobs ?? undefined
  if (req.top_logprobs != null && !req.logprobs)
    throw new HttpError(400, 'top_logprobs needs logprobs set to true', 'top_logprobs', 'invalid_value')
  return req.logprobs ? (req.top_logprobs ?? 0) : undefined
}

/** OpenAI's response_format as core's: the schema of json_schema is under json_schema.schema. */
function responseFormat(req: GenerationRequest): ResponseFormat | undefined {
  const format = req.response_format
  if (!format) return undefined
  switch (format.type) {
    case 'text':
      return undefined
    case 'json_object':
      return { type: 'json_object' }
    case 'json_schema': {
      const spec = (format as { json_schema?: unknown }).json_schema
      if (typeof spec !== 'object' || spec === null || !('schema' in spec) || spec.schema == null)
        throw new HttpError(
          400,
          'response_format.json_schema.schema is required (the JSON schema the output must match)',
          'response_format.json_schema.schema',
          'missing_required_parameter',
        )
      return { type: 'json_schema', schema: spec.schema }
    }
    default:
      throw new HttpError(
        400,
        `response_format.type must be text, json_object or json_schema (got ${JSON.stringify(format.type)})`,
        'response_format.type',
        'invalid_value',
      )
  }
}

/** Requests for what this server does not do: a 400 naming the field, never a silent ignore. */
export function refuseUnsupported(req: GenerationRequest): void {
  if ('suffix' in req && req.suffix) throw unsupported('suffix', 'suffix (insertion)')
  if ('best_of' in req && req.best_of != null && req.best_of !== (req.n ?? 1))
    throw unsupported('best_of', 'best_of other than n')
  if ('prompt' in req) return
  if (req.echo) throw unsupported('echo', 'echo on chat completions')
  if (req.tools?.length) throw unsupported('tools', 'tools (function calling)')
  if (req.functions?.length) throw unsupported('functions', 'functions (function calling)')
  if (req.tool_choice != null && req.tool_choice !== 'none' && req.tool_choice !== 'auto')
    throw unsupported('tool_choice', 'tool_choice (function calling)')
}
