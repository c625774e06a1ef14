// Log-probabilities in OpenAI's two shapes: chat's per-token objects with bytes, and the legacy
// completions' parallel arrays with text offsets. A token's text is its own bytes; one that is only
// part of a UTF-8 character is written "bytes:\xNN…", as vLLM does.
import { tokenBytes } from '../core/constrain/token-table.js'
import type { TokenLogprob } from '../core/runtime/sampling.js'
import type { Tokenizer } from '../core/tokenizer/index.js'

/** One generated token's log-probabilities as core reports them. */
export interface TokenLogprobs {
  id: number
  logprob: number
  top: TokenLogprob[]
}

const strict = new TextDecoder('utf-8', { fatal: true })

/** A token's text and bytes as OpenAI shows them. */
function tokenText(tok: Tokenizer, id: number): { token: string; bytes: number[] } {
  const raw = tokenBytes(tok, id) ?? new TextEncoder().encode(tok.idToToken(id) ?? '')
  const bytes = [...raw]
  try {
    return { token: strict.decode(raw), bytes }
  } catch {
    return { token: `bytes:${bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}`, bytes }
  }
}

/** Chat's `logprobs.content` entries. */
export function chatLogprobs(tok: Tokenizer, tokens: readonly TokenLogprobs[]) {
  return tokens.map((t) => ({
    ...tokenText(tok, t.id),
    logprob: t.logprob,
    top_logprobs: t.top.map((x) => ({ ...tokenText(tok, x.id), logprob: x.logprob })),
  }))
}

/** Chat's choice field: null without logprobs. */
export function chatLogprobsField(tok: Tokenizer, tokens: readonly TokenLogprobs[] | undefined) {
  return tokens ? { content: chatLogprobs(tok, tokens), refusal: null } : null
}

/**
 * The completions API's `logprobs` object; `offset` is where the first token's text starts in the
 * choice's text (after an echoed prompt).
 */
export function completionLogprobs(tok: Tokenizer, tokens: readonly TokenLogprobs[], offset: number) {
  const texts = tokens.map((t) => tokenText(tok, t.id).token)
  const text_offset: number[] = []
  let at = offset
  for (const t of texts) {
    text_offset.push(at)
    at += t.length
  }
  return {
    tokens: texts,
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map((t) =>
      Object.fromEntries(t.top.map((x) => [tokenText(tok, x.id).token, x.logprob])),
    ),
    text_offset,
  }
}

/** A result's tokens with their log-probabilities (undefined when they were not asked for). */
export function resultLogprobs(result: {
  tokens: number[]
  logprobs?: { logprob: number; top: TokenLogprob[] }[]
}): TokenLogprobs[] | undefined {
  return result.logprobs?.map((l, i) => ({ id: result.tokens[i], ...l }))
}
