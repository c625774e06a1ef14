// Checks the generation, encoder and tokenizer routes share: the model a request names, token ids, whether
// prompt and completion fit the context, and whether a request could ever fit the slots and queue.

import { quote } from '../../core/util/shown.js'
import type { BaseContext, ServerContext } from '../context.js'
import { HttpError } from '../errors.js'

/**
 * A request may name the served model, one of its LoRA adapters (kiln serve --adapter), or none;
 * any other name is OpenAI's 404 model_not_found. Returns the adapter named, if one is.
 */
export function checkModel(
  ctx: Pick<BaseContext, 'servedModelName' | 'adapterNames'>,
  model: string | null | undefined,
): string | undefined {
  if (model == null || model === ctx.servedModelName) return undefined
  if (ctx.adapterNames.includes(model)) return model
  // The name as the client sent it, escaped and cut short (it may hold line breaks, or megabytes).
  const named = quote(model).slice(1, -1)
  const adapters = ctx.adapterNames.length
    ? ` and its adapters ${ctx.adapterNames.map((a) => `\`${a}\``).join(', ')}`
    : ''
  throw new HttpError(
    404,
    `The model \`${named}\` does not exist. This server serves \`${ctx.servedModelName}\`${adapters}.`,
    'model',
    'model_not_found',
  )
}

/** Token ids given by the client: present, and inside the vocabulary. */
export function checkTokenIds(
  ctx: Pick<BaseContext, 'vocabSize'>,
  ids: number[],
  param: string,
  what = param,
): void {
  if (ids.length === 0) throw new HttpError(400, `${what} is empty (no tokens)`, param, 'invalid_value')
  const V = ctx.vocabSize
  for (const id of ids)
    if (id < 0 || id >= V)
      throw new HttpError(
        400,
        `${what}: token id ${id} is outside the vocabulary (0..${V - 1})`,
        param,
        'invalid_value',
      )
}

/** A request of more sequences than the slots and the whole queue hold could never run: a 400, not a 429. */
export function checkCapacity(ctx: ServerContext, sequences: number): void {
  const most = ctx.scheduler.maxSeqs + ctx.maxQueue
  if (sequences > most)
    throw new HttpError(
      400,
      `this request needs ${sequences} sequences (prompts × n); this server runs ${ctx.scheduler.maxSeqs} at once and queues ${ctx.maxQueue} more`,
      'n',
      'invalid_value',
    )
}

/**
 * Checks that each prompt and its completion fit the context (vLLM's words, which clients parse).
 * `maxTokens` is what the request asked for; the prompt param names the field of the prompt.
 */
export function checkContext(
  prompts: number[][],
  maxTokens: number,
  context: number,
  params: { prompt: string; maxTokens: string },
): void {
  for (const ids of prompts) {
    if (ids.length >= context)
      throw new HttpError(
        400,
        `This model's maximum context length is ${context} tokens. However, your prompt has ${ids.length} tokens. Please reduce the length of the ${params.prompt}.`,
        params.prompt,
        'context_length_exceeded',
      )
    if (ids.length + maxTokens > context)
      throw new HttpError(
        400,
        `This model's maximum context length is ${context} tokens. However, you requested ${ids.length + maxTokens} tokens (${ids.length} in the ${params.prompt}, ${maxTokens} for the completion). Please reduce the length of the ${params.prompt} or ${params.maxTokens}.`,
        params.maxTokens,
        'context_length_exceeded',
      )
  }
}
