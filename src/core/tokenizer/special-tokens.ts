// The pad and mask tokens and the length limit that task pipelines need, read from
// tokenizer_config.json (as transformers does), falling back to what tokenizer.json says.

import { tokenContent } from './chat-template.js'
import { isObject, type Json } from './fields.js'

export interface SpecialTokens {
  padToken?: string
  /** Set when tokenizer.json's padding section names the id. */
  padId?: number
  maskToken?: string
  modelMaxLength?: number
}

/** transformers writes a huge sentinel (1e30) for "no limit". */
const NO_LIMIT = 1e9

function addedSpecial(tj: Json, candidates: readonly string[]): string | undefined {
  // added_tokens' shape is checked where they are read (added-tokens.ts parseAddedTokens).
  const added = Array.isArray(tj.added_tokens) ? (tj.added_tokens as unknown[]) : []
  for (const name of candidates)
    if (added.some((t) => isObject(t) && t.content === name && t.special === true)) return name
  return undefined
}

export function readSpecialTokens(tj: Json, config: Json): SpecialTokens {
  const out: SpecialTokens = {}
  const padding = isObject(tj.padding) ? tj.padding : undefined
  out.padToken = tokenContent(config.pad_token)
  if (out.padToken === undefined && padding && typeof padding.pad_token === 'string') {
    out.padToken = padding.pad_token
    // An id the Tokenizer checks against its vocabulary (one out of range is not used).
    if (Number.isSafeInteger(padding.pad_id) && (padding.pad_id as number) >= 0)
      out.padId = padding.pad_id as number
  }
  out.padToken ??= addedSpecial(tj, ['[PAD]', '<pad>'])
  out.maskToken = tokenContent(config.mask_token) ?? addedSpecial(tj, ['[MASK]', '<mask>'])
  const limit = config.model_max_length
  const truncation = isObject(tj.truncation) ? tj.truncation : undefined
  if (typeof limit === 'number' && limit > 0 && limit < NO_LIMIT) out.modelMaxLength = limit
  else if (truncation && Number.isSafeInteger(truncation.max_length) && (truncation.max_length as number) > 0)
    out.modelMaxLength = truncation.max_length as number
  return out
}
