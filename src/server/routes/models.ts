// GET /v1/models and /v1/models/:model: the model this server serves and its LoRA adapters, as
// OpenAI lists models (an adapter's card names its base as `parent`, as vLLM's does).
import type { FastifyInstance } from 'fastify'
import type { BaseContext } from '../context.js'
import { checkModel } from './checks.js'

export function modelsRoute(app: FastifyInstance, ctx: BaseContext): void {
  const card = (adapter?: string) => ({
    id: adapter ?? ctx.servedModelName,
    object: 'model',
    created: ctx.startedAt,
    owned_by: 'kiln',
    // vLLM's extra: what a prompt plus its completion (an encoder: an input) may hold.
    max_model_len: ctx.maxModelLen,
    ...(adapter === undefined ? {} : { parent: ctx.servedModelName }),
  })
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [card(), ...ctx.adapterNames.map((a) => card(a))],
  }))
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    // A served name may hold slashes (org/name), so the rest of the path is the name.
    return card(checkModel(ctx, request.params['*']))
  })
}
