// POST /v1/completions: OpenAI's (legacy) text completions over one or more prompts (text or token
// ids), n choices each, streamed or not.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'
import { HttpError } from '../errors.js'
import { openAiFinishReason } from '../generation.js'
import type { TokenLogprobs } from '../logprobs.js'
import { completionLogprobs, resultLogprobs } from '../logprobs.js'
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
    const echo = req.echo ? promptTexts(ctx, req, prompts) : undefined
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

/**
 * `echo[p]`: prompt p's text, put before each of its choices' text (n choices per prompt, choice i
 * of prompt floor(i / n)).
 */
function completionFormat(
  ctx: ServerContext,
  model: string,
  includeUsage: boolean,
  n: number,
  echo?: string[],
): ResponseFormat {
  const tok = ctx.model.tokenizer
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`
  const created = Math.floor(Date.now() / 1000)
  const head = { id, object: 'text_completion', created, model }
  const echoed = (choice: number) => echo?.[Math.floor(choice / n)] ?? ''
  // With include_usage, OpenAI gives every chunk a usage field, null but on the last.
  const chunk = (choices: unknown[]) =>
    includeUsage ? { ...head, choices, usage: null } : { ...head, choices }
  // Streamed: where each choice's next text starts (text_offset counts from the echoed prompt).
  const sent = new Map<number, number>()
  const logprobs = (choice: number, list: TokenLogprobs[] | undefined, text: string) => {
    const offset = sent.get(choice) ?? echoed(choice).length
    sent.set(choice, offset + text.length)
    return list ? completionLogprobs(tok, list, offset) : null
  }
  return {
    body: (results, usage) => ({
      ...head,
      choices: results.map((r, index) => {
        const tokens = resultLogprobs(r)
        return {
          index,
          text: echoed(index) + r.text,
          logprobs: tokens ? completionLogprobs(tok, tokens, echoed(index).length) : null,
          finish_reason: openAiFinishReason(r.finishReason),
        }
      }),
      usage,
    }),
    opening: (choices) =>
      echo
        ? Array.from({ length: choices }, (_, index) =>
            chunk([{ index, text: echoed(index), logprobs: null, finish_reason: null }]),
          )
        : [],
    text: (index, text, list) =>
      chunk([{ index, text, logprobs: logprobs(index, list, text), finish_reason: null }]),
    finish: (index, reason, list) =>
      chunk([{ index, text: '', logprobs: list ? logprobs(index, list, '') : null, finish_reason: reason }]),
    usage: (usage) => ({ ...head, choices: [], usage }),
  }
}
