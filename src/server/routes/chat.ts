// POST /v1/chat/completions: the messages through the model's chat template (with the generation
// prompt), n choices, streamed as deltas (the role first, then content) or answered whole.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'
import { openAiFinishReason } from '../generation.js'
import { chatLogprobsField, resultLogprobs, type TokenLogprobs } from '../logprobs.js'
import { choicesPerPrompt, fieldNames, generateOptions, refuseUnsupported } from '../request-options.js'
import { type ResponseFormat, respond } from '../respond.js'
import { chatSchema, parseBody } from '../validate.js'
import { checkCapacity, checkContext, checkModel, checkTokenIds } from './checks.js'

export function chatRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/chat/completions', async (request, reply) => {
    const req = parseBody(chatSchema, request.body)
    const adapter = checkModel(ctx, req.model)
    refuseUnsupported(req)
    const n = choicesPerPrompt(req)
    // The template writes BOS and friends itself; adding them again would double them.
    const text = ctx.chat.render(req.messages, true)
    const ids = ctx.model.tokenizer.encode(text, { addSpecialTokens: req.add_special_tokens ?? false })
    checkTokenIds(ctx, ids, 'messages')
    const context = ctx.scheduler.contextLength
    // max_completion_tokens is OpenAI's newer name; errors name the field the client used.
    const maxField = req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens'
    const asked = req.max_completion_tokens ?? req.max_tokens ?? undefined
    checkContext([ids], asked ?? 0, context, { prompt: 'messages', maxTokens: maxField })
    // Unasked, a chat may run to the end of the context (as vLLM), or to generation_config's limit.
    const maxTokens = asked ?? Math.min(ctx.model.generation.maxNewTokens ?? Infinity, context - ids.length)
    const field = fieldNames({ maxNewTokens: maxField, logprobs: 'top_logprobs' })
    const options = { ...generateOptions(req, maxTokens, field), adapter }
    checkCapacity(ctx, n)
    const includeUsage = req.stream_options?.include_usage === true
    const format = chatFormat(ctx, adapter ?? ctx.servedModelName, includeUsage)
    return respond(ctx, request, reply, { prompts: [ids], n, options }, format, {
      stream: req.stream === true,
      includeUsage,
      errors: { field, inputParam: 'messages' },
    })
  })
}

function chatFormat(ctx: ServerContext, model: string, includeUsage: boolean): ResponseFormat {
  const tok = ctx.model.tokenizer
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`
  const created = Math.floor(Date.now() / 1000)
  const head = { id, object: 'chat.completion', created, model }
  const chunkHead = { ...head, object: 'chat.completion.chunk' }
  // With include_usage, OpenAI gives every chunk a usage field, null but on the last.
  const chunk = (choices: unknown[]) =>
    includeUsage ? { ...chunkHead, choices, usage: null } : { ...chunkHead, choices }
  const delta = (
    index: number,
    d: Record<string, string>,
    finish: string | null = null,
    list?: TokenLogprobs[],
  ) => chunk([{ index, delta: d, logprobs: chatLogprobsField(tok, list), finish_reason: finish }])
  return {
    body: (results, usage) => ({
      ...head,
      choices: results.map((r, index) => ({
        index,
        message: { role: 'assistant', content: r.text, refusal: null },
        logprobs: chatLogprobsField(tok, resultLogprobs(r)),
        finish_reason: openAiFinishReason(r.finishReason),
      })),
      usage,
    }),
    opening: (choices) =>
      Array.from({ length: choices }, (_, index) => delta(index, { role: 'assistant', content: '' })),
    text: (index, text, list) => delta(index, { content: text }, null, list),
    finish: (index, reason, list) => delta(index, {}, reason, list),
    usage: (usage) => ({ ...chunkHead, choices: [], usage }),
  }
}
