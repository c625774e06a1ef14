// What every encoder pipeline starts from: the MODEL argument resolved (a local folder as it is, a
// repo id through the Hub cache), the encoder loaded, the head the task needs checked, and texts
// tokenized the way the model takes them (special tokens, pairs, truncation to its length).

import { ConfigError, InputError } from '../errors.js'
import type { HubOptions } from '../hub/config.js'
import type { DownloadListener } from '../hub/events.js'
import { resolveModelArg } from '../hub/model-arg.js'
import type { EncoderHead } from '../models/config.js'
import { type EncoderLoadOptions, type EncoderModel, loadEncoder } from '../runtime/encoder.js'
import type { Encoding, TruncationStrategy } from '../tokenizer/index.js'

export interface PipelineLoadOptions extends EncoderLoadOptions {
  /** Where repo ids are fetched from and cached (default: the environment's, as `kiln download`). */
  hub?: HubOptions
  /** Download progress and warnings while a repo id is fetched. */
  onEvent?: DownloadListener
}

export async function openEncoder(model: string, opts: PipelineLoadOptions = {}): Promise<EncoderModel> {
  const { hub, onEvent, ...load } = opts
  return loadEncoder(await resolveModelArg(model, hub, onEvent), load)
}

const HEAD_NAMES: Record<EncoderHead, string> = {
  base: 'a bare encoder',
  'sequence-classification': 'a sequence classifier (…ForSequenceClassification)',
  'token-classification': 'a token classifier (…ForTokenClassification)',
  'masked-lm': 'a masked language model (…ForMaskedLM)',
}

/** Refuses a model whose head is not the one `task` runs, naming what it is. */
export function requireHead(model: EncoderModel, head: EncoderHead, task: string): void {
  const c = model.config
  if (c.head === head) return
  const is = HEAD_NAMES[c.head].replace(/ \(.*\)$/, '')
  throw new ConfigError(
    `${task} needs ${HEAD_NAMES[head]}; ${model.dir} is ${is} (${c.architecture ?? c.modelType})`,
  )
}

/** The longest input the model and its tokenizer take, special tokens included. */
export function maxInputLength(model: EncoderModel, limit?: number): number {
  const tokenizerMax = model.tokenizer.modelMaxLength
  let max = model.maxLength
  if (tokenizerMax !== undefined && tokenizerMax > 0) max = Math.min(max, tokenizerMax)
  if (limit !== undefined) max = Math.min(max, limit)
  return max
}

/** One text (or text pair) as the model takes it: special tokens added, truncated to fit. */
export function encodeText(
  model: EncoderModel,
  text: string,
  opts: { pair?: string; truncation?: TruncationStrategy; maxLength?: number } = {},
): Encoding {
  if (typeof text !== 'string') throw new InputError(`inputs must be strings, got ${typeof text}`)
  return model.tokenizer.encodeWithOffsets(text, {
    pair: opts.pair,
    maxLength: opts.maxLength ?? maxInputLength(model),
    truncation: opts.truncation ?? 'longest_first',
  })
}

/** A string or a list of strings as a list, and whether it was a list. */
export function asList<T>(input: T | readonly T[]): { items: readonly T[]; batched: boolean } {
  return Array.isArray(input)
    ? { items: input as readonly T[], batched: true }
    : { items: [input as T], batched: false }
}
