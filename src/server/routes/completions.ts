// POST /v1/completions: OpenAI's (legacy) text completions over one or more prompts (text or token
// ids), n choices each, streamed or not.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'
import { HttpError } from '../errors.js'
import { openAiFinishReason } from '../generation.js'
import { choicesPerPrompt, fieldNames, generateOptions, refuseUnsupported } from '../request-options.js'
import { type ResponseFormat, respond } from '../respond.js'
import { type CompletionRequest, completionSchema, parseBody } from '../validate.js'
import { checkCapacity, checkContext, checkModel, checkTokenIds } from './checks.js'

/** OpenAI's default for /v1/completions. */
const DEFAULT_MAX_TOKENS = 16

export function completionsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/completions', async (request, reply) => {
    const req = parseBody(completionSchema, request.body)
    checkModel(ctx, req.model)
    refuseUnsupported(req)
    const n = choicesPerPrompt(req)
    const field = fieldNames()
    const maxTokens = req.max_tokens ?? DEFAULT_MAX_TOKENS
    const options = generateOptions(req, maxTokens, field)
    const prompts = promptIds(ctx, req)
    checkContext(prompts, maxTokens, ctx.scheduler.contextLength, {
      prompt: 'prompt',
      maxTokens: 'max_tokens',
    })
    checkCapacity(ctx, prompts.length * n)
    const format = completionFormat(ctx.servedModelName, req.stream_options?.include_usage === true)
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

function completionFormat(model: string, includeUsage: boolean): ResponseFormat {
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`
  const created = Math.floor(Date.now() / 1000)
  const head = { id, object: 'text_completion', created, model }
  // With include_usage, OpenAI gives every chunk a usage field, null but on the last.
  const chunk = (choices: unknown[]) =>
    includeUsage ? { ...head, choices, usage: null } : { ...head, choices }
  return {
    body: (results, usage) => ({
      ...head,
      choices: results.map((r, index) => ({
        index,
        text: r.text,
        logprobs: null,
        finish_reason: openAiFinishReason(r.finishReason),
      })),
      usage,
    }),
    opening: () => [],
    text: (index, text) => chunk([{ index, text, logprobs: null, finish_reason: null }]),
    finish: (index, reason) => chunk([{ index, text: '', logprobs: null, finish_reason: reason }]),
    usage: (usage) => ({ ...head, choices: [], usage }),
  }
}
