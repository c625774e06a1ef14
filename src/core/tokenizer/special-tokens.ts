// The pad and mask tokens and the length limit that task pipelines need, read from
// tokenizer_config.json (as transformers does), falling back to what tokenizer.json says.

import { tokenContent } from './chat-template.js'

export interface SpecialTokens {
  padToken?: string
  /** Set when tokenizer.json's padding section names the id. */
  padId?: number
  maskToken?: string
  modelMaxLength?: number
}

type Json = Record<string, unknown>

/** transformers writes a huge sentinel (1e30) for "no limit". */
const NO_LIMIT = 1e9

function addedSpecial(tj: Json, candidates: readonly string[]): string | undefined {
  const added = Array.isArray(tj.added_tokens) ? (tj.added_tokens as Json[]) : []
  for (const name of candidates) if (added.some((t) => t.content === name && t.special === true)) return name
  return undefined
}

export function readSpecialTokens(tj: Json, config: Json): SpecialTokens {
  const out: SpecialTokens = {}
  const padding = (tj.padding ?? undefined) as Json | undefined
  out.padToken = tokenContent(config.pad_token)
  if (out.padToken === undefined && padding && typeof padding.pad_token === 'string') {
    out.padToken = padding.pad_token
    if (typeof padding.pad_id === 'number') out.padId = padding.pad_id
  }
  out.padToken ??= addedSpecial(tj, ['[PAD]', '<pad>'])
  out.maskToken = tokenContent(config.mask_token) ?? addedSpecial(tj, ['[MASK]', '<mask>'])
  const limit = config.model_max_length
  const truncation = (tj.truncation ?? undefined) as Json | undefined
  if (typeof limit === 'number' && limit > 0 && limit < NO_LIMIT) out.modelMaxLength = limit
  else if (truncation && typeof truncation.max_length === 'number') out.modelMaxLength = truncation.max_length
  return out
}
