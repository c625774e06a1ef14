// GET /v1/models and /v1/models/:model: the one model this server serves, as OpenAI lists models.
import type { FastifyInstance } from 'fastify'
import type { BaseContext } from '../context.js'
import { checkModel } from './checks.js'

export function modelsRoute(app: FastifyInstance, ctx: BaseContext): void {
  const card = () => ({
    id: ctx.servedModelName,
    object: 'model',
    created: ctx.startedAt,
    owned_by: 'kiln',
    // vLLM's extra: what a prompt plus its completion (an encoder: an input) may hold.
    max_model_len: ctx.maxModelLen,
  })
  app.get('/v1/models', async () => ({ object: 'list', data: [card()] }))
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    // A served name may hold slashes (org/name), so the rest of the path is the name.
    checkModel(ctx, request.params['*'])
    return card()
  })
}
