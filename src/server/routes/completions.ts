// POST /v1/completions: OpenAI's (legacy) text completions over one or more prompts (text or token
// ids), n choices each, streamed or not.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { PromptLogprobs } from '../../core/runtime/generate.js'
import type { ServerContext } from '../context.js'
import { HttpError } from '../errors.js'
import { openAiFinishReason } from '../generation.js'
import type { TokenLogprobs } from '../logprobs.js'
import {
  completionLogprobs,
  joinCompletionLogprobs,
  promptCompletionLogprobs,
  resultLogprobs,
} from '../logprobs.js'
import { choicesPerPrompt, fieldNames, generateOptions, refuseUnsupported } from '../request-options.js'
import { type ResponseFormat, respond } from '../respond.js'
import { type CompletionRequest, completionSchema, parseBody } from '../validate.js'
import { checkCapacity, checkContext, checkModel, checkTokenIds } from './checks.js'

/** OpenAI's default for /v1/completions. */
const DEFAULT_MAX_TOKENS = 16

export function completionsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/completions', async (request, reply) => {
    const req = parseBody(completionSchema, request.body)
    const adapter = checkModel(ctx, req.model)
    refuseUnsupported(req)
    const n = choicesPerPrompt(req)
    const field = fieldNames()
    const maxTokens = req.max_tokens ?? DEFAULT_MAX_TOKENS
    const options = { ...generateOptions(req, maxTokens, field), adapter }
    const prompts = promptIds(ctx, req)
    checkContext(prompts, maxTokens, ctx.scheduler.contextLength, {
      prompt: 'prompt',
      maxTokens: 'max_tokens',
    })
    checkCapacity(ctx, prompts.length * n)
    const echo = req.echo ? { texts: promptTexts(ctx, req, prompts), ids: prompts } : undefined
    const format = completionFormat(
      ctx,
      adapter ?? ctx.servedModelName,
      req.stream_options?.include_usage === true,
      n,
      echo,
    )
    return respond(ctx, request, reply, { prompts, n, options }, format, {
      stream: req.stream === true,
      includeUsage: req.stream_options?.include_usage === true,
      errors: { field, inputParam: 'prompt' },
    })
  })
}

/** Each prompt as token ids: text is encoded (with BOS and the like unless add_special_tokens is false). */
function promptIds(ctx: ServerContext, req: CompletionRequest): number[][] {
  const p = req.prompt
  const list: (string | number[])[] =
    typeof p === 'string'
      ? [p]
      : p.length > 0 && typeof p[0] === 'number'
        ? [p as number[]]
        : (p as (string | number[])[])
  if (list.length === 0) throw new HttpError(400, 'prompt must not be empty', 'prompt', 'invalid_value')
  const addSpecialTokens = req.add_special_tokens ?? true
  const ids = list.map((x) =>
    typeof x === 'string' ? ctx.model.tokenizer.encode(x, { addSpecialTokens }) : x,
  )
  for (const [i, one] of ids.entries()) checkTokenIds(ctx, one, list.length > 1 ? `prompt[${i}]` : 'prompt')
  return ids
}

/** The prompts' text for echo: as sent, or decoded where they came as token ids. */
function promptTexts(ctx: ServerContext, req: CompletionRequest, ids: number[][]): string[] {
  const p = req.prompt
  const given =
    typeof p === 'string' ? [p] : p.every((x) => typeof x === 'string') ? (p as string[]) : undefined
  return given ?? ids.map((x) => ctx.model.tokenizer.decode(x))
}

/** What echo puts before each choice: per prompt, its text and its token ids. */
interface Echo {
  texts: string[]
  ids: number[][]
}

/**
 * With echo, prompt p's text goes before each of its choices' text (n choices per prompt, choice i
 * of prompt floor(i / n)), and with logprobs its tokens' log-probabilities before the choice's.
 */
function completionFormat(
  ctx: ServerContext,
  model: string,
  includeUsage: boolean,
  n: number,
  echo?: Echo,
): ResponseFormat {
  const tok = ctx.model.tokenizer
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`
  const created = Math.floor(Date.now() / 1000)
  const head = { id, object: 'text_completion', created, model }
  const echoed = (choice: number) => echo?.texts[Math.floor(choice / n)] ?? ''
  const promptPart = (choice: number, scores: PromptLogprobs | undefined) =>
    echo && scores ? promptCompletionLogprobs(tok, echo.ids[Math.floor(choice / n)], scores) : undefined
  // With include_usage, OpenAI gives every chunk a usage field, null but on the last.
  const chunk = (choices: unknown[]) =>
    includeUsage ? { ...head, choices, usage: null } : { ...head, choices }
  // Streamed: where each choice's next token starts. text_offset adds up the tokens as `tokens`
  // shows them, from the end of the echoed prompt, streamed or not (a token that is part of a
  // character shows as bytes:\xNN, longer than the text it makes).
  const next = new Map<number, number>()
  const logprobs = (choice: number, list: TokenLogprobs[] | undefined) => {
    if (!list) return null
    const offset = next.get(choice) ?? echoed(choice).length
    const out = completionLogprobs(tok, list, offset)
    next.set(choice, offset + out.tokens.reduce((sum, t) => sum + t.length, 0))
    return out
  }
  return {
    body: (results, usage) => ({
      ...head,
      choices: results.map((r, index) => {
        const tokens = resultLogprobs(r)
        const generated = tokens ? completionLogprobs(tok, tokens, echoed(index).length) : undefined
        return {
          index,
          text: echoed(index) + r.text,
          logprobs: joinCompletionLogprobs(promptPart(index, r.promptLogprobs), generated),
          finish_reason: openAiFinishReason(r.finishReason),
        }
      }),
      usage,
    }),
    opening: () => [],
    prompt: echo
      ? (index, scores) =>
          chunk([
            {
              index,
              text: echoed(index),
              logprobs: promptPart(index, scores) ?? null,
              finish_reason: null,
            },
          ])
      : undefined,
    text: (index, text, list) =>
      chunk([{ index, text, logprobs: logprobs(index, list), finish_reason: null }]),
    finish: (index, reason, list) =>
      chunk([{ index, text: '', logprobs: logprobs(index, list), finish_reason: reason }]),
    usage: (usage) => ({ ...head, choices: [], usage }),
  }
}
