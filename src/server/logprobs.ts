// Log-probabilities in OpenAI's two shapes: chat's per-token objects with bytes, and the legacy
// completions' parallel arrays with text offsets. A token's text is its own bytes; one that is only
// part of a UTF-8 character is written "bytes:\xNN…", as vLLM does.
import { tokenBytes } from '../core/constrain/token-table.js'
import type { PromptLogprobs } from '../core/runtime/generate.js'
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
  return parallelArrays(tok, tokens, offset)
}

/**
 * The same object for an echoed prompt (echo with logprobs): its tokens from offset 0, the first
 * with a null log-probability and null alternatives (nothing precedes it), as OpenAI gives them.
 */
export function promptCompletionLogprobs(tok: Tokenizer, ids: readonly number[], scores: PromptLogprobs) {
  return parallelArrays(
    tok,
    ids.map((id, i) => ({ id, logprob: scores[i]?.logprob ?? null, top: scores[i]?.top ?? null })),
    0,
  )
}

// Tokens, their log-probabilities, their alternatives as {text: logprob} and where each token's
// text starts, adding up the token texts from `start`.
function parallelArrays(
  tok: Tokenizer,
  entries: readonly { id: number; logprob: number | null; top: readonly TokenLogprob[] | null }[],
  start: number,
) {
  const tokens = entries.map((t) => tokenText(tok, t.id).token)
  const text_offset: number[] = []
  let at = start
  for (const t of tokens) {
    text_offset.push(at)
    at += t.length
  }
  return {
    tokens,
    token_logprobs: entries.map((t) => t.logprob),
    top_logprobs: entries.map((t) =>
      t.top ? Object.fromEntries(t.top.map((x) => [tokenText(tok, x.id).token, x.logprob])) : null,
    ),
    text_offset,
  }
}

/** An echoed prompt's logprobs object followed by its choice's (either may be absent). */
export function joinCompletionLogprobs(
  prompt: ReturnType<typeof promptCompletionLogprobs> | undefined,
  generated: ReturnType<typeof completionLogprobs> | undefined,
) {
  if (!prompt || !generated) return prompt ?? generated ?? null
  return {
    tokens: [...prompt.tokens, ...generated.tokens],
    token_logprobs: [...prompt.token_logprobs, ...generated.token_logprobs],
    top_logprobs: [...prompt.top_logprobs, ...generated.top_logprobs],
    text_offset: [...prompt.text_offset, ...generated.text_offset],
  }
}

/** A result's tokens with their log-probabilities (undefined when they were not asked for). */
export function resultLogprobs(result: {
  tokens: number[]
  logprobs?: { logprob: number; top: TokenLogprob[] }[]
}): TokenLogprobs[] | undefined {
  return result.logprobs?.map((l, i) => ({ id: result.tokens[i], ...l }))
}
