// POST /tokenize and /detokenize as vLLM has them: a prompt (or chat messages through the template)
// to token ids with the count and the context, and token ids back to text.
import type { FastifyInstance } from 'fastify'
import type { BaseContext } from '../context.js'
import { detokenizeSchema, parseBody, tokenizeSchema } from '../validate.js'
import { checkModel, checkTokenIds } from './checks.js'

export function tokenizeRoutes(app: FastifyInstance, ctx: BaseContext): void {
  const tokenizer = ctx.tokenizer
  app.post('/tokenize', async (request) => {
    const req = parseBody(tokenizeSchema, request.body)
    checkModel(ctx, req.model)
    const tokens =
      'prompt' in req
        ? tokenizer.encode(req.prompt, { addSpecialTokens: req.add_special_tokens ?? true })
        : tokenizer.encode(ctx.chat.render(req.messages, req.add_generation_prompt ?? true), {
            addSpecialTokens: req.add_special_tokens ?? false,
          })
    return { count: tokens.length, max_model_len: ctx.maxModelLen, tokens }
  })
  app.post('/detokenize', async (request) => {
    const req = parseBody(detokenizeSchema, request.body)
    checkModel(ctx, req.model)
    if (req.tokens.length === 0) return { prompt: '' }
    checkTokenIds(ctx, req.tokens, 'tokens')
    return { prompt: tokenizer.decode(req.tokens) }
  })
}
