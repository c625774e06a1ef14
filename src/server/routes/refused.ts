// The other kind's routes: a text generator's server answers the encoder routes, and an encoder's
// the generation routes, with a 400 that says what the model is and what it serves (as vLLM answers
// "The model does not support … API"), not with a 404 that reads as a wrong URL.
import type { FastifyInstance } from 'fastify'
import type { BaseContext, EncoderContext } from '../context.js'
import { HttpError } from '../errors.js'

export const GENERATOR_PATHS = ['/v1/completions', '/v1/chat/completions']
export const ENCODER_PATHS = ['/v1/embeddings', '/classify']

export function refuseRoutes(app: FastifyInstance, ctx: BaseContext, paths: string[]): void {
  const { is, serves, hint } = whatItServes(ctx)
  for (const path of paths)
    app.post(path, async () => {
      throw new HttpError(
        400,
        `The model \`${ctx.servedModelName}\` is ${is}: it serves ${serves}, not ${path}.${hint}`,
        'model',
        'unsupported_task',
      )
    })
}

function whatItServes(ctx: BaseContext | EncoderContext): { is: string; serves: string; hint: string } {
  if (!('encoder' in ctx))
    return {
      is: 'a text generator',
      serves: '/v1/completions and /v1/chat/completions',
      hint: ' Serve an encoder (BERT family) for embeddings and classification.',
    }
  return ctx.encoder.model.config.head === 'sequence-classification'
    ? {
        is: 'an embedding and classification model (an encoder)',
        serves: '/v1/embeddings and /classify',
        hint: '',
      }
    : { is: 'an embedding model (an encoder)', serves: '/v1/embeddings', hint: '' }
}
