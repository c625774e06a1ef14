// The HTTP front end: a Fastify app with OpenAI's routes over a model and its scheduler, the
// vLLM-style extras (/tokenize, /detokenize, /health, /metrics), auth, limits and OpenAI errors.
import Fastify, { type FastifyInstance } from 'fastify'
import { bearerCheck, OPEN_PATHS, pathOf } from './auth.js'
import { ChatPrompt } from './chat-prompt.js'
import { type ServerContext, ServerControl, type ServerOptions } from './context.js'
import { HttpError, toHttpError } from './errors.js'
import { ServerMetrics } from './metrics.js'
import { chatRoute } from './routes/chat.js'
import { completionsRoute } from './routes/completions.js'
import { modelsRoute } from './routes/models.js'
import { probeRoutes } from './routes/probes.js'
import { tokenizeRoutes } from './routes/tokenize.js'

export type { RequestSummary, ServerOptions } from './context.js'
export { ServerControl } from './context.js'

/** Large enough for a long context sent as token ids or chat turns. */
const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024

declare module 'fastify' {
  interface FastifyInstance {
    /** Draining switch for the front end that owns the process (see ServerControl). */
    kiln: ServerControl
  }
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT })
  const control = new ServerControl()
  const ctx: ServerContext = {
    model: opts.model,
    scheduler: opts.scheduler,
    servedModelName: opts.servedModelName,
    maxQueue: opts.maxQueue ?? Number.POSITIVE_INFINITY,
    chat: new ChatPrompt(opts.model.tokenizer, opts.chatTemplate),
    metrics: new ServerMetrics(opts.scheduler, opts.servedModelName),
    control,
    startedAt: Math.floor(Date.now() / 1000),
  }
  app.decorate('kiln', control)

  const authorize = opts.apiKey === undefined ? undefined : bearerCheck(opts.apiKey)
  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request.url)
    if (control.draining) {
      reply.header('connection', 'close')
      // No new work, but the probes stay readable (/health says 503 itself).
      if (!OPEN_PATHS.has(path))
        throw new HttpError(503, 'the server is shutting down and takes no new requests', null, 'draining')
    }
    authorize?.(request)
  })
  // While draining, a connection closes once its response is out, so that closing the server
  // waits for the responses in flight and not for idle keep-alive connections to time out.
  app.addHook('onResponse', async (request) => {
    if (control.draining) request.raw.socket?.end()
  })

  app.setErrorHandler((err, _request, reply) => {
    const http = toHttpError(err)
    if (http.status >= 500 && http.status !== 503) opts.onInternalError?.(err)
    return reply.code(http.status).headers(http.headers).send(http.body())
  })
  app.setNotFoundHandler((request, reply) => {
    const http = new HttpError(404, `no route ${request.method} ${pathOf(request.url)}`, null, 'not_found')
    return reply.code(404).send(http.body())
  })

  if (opts.onRequestDone) {
    const done = opts.onRequestDone
    app.addHook('onResponse', async (request, reply) => {
      const path = pathOf(request.url)
      if (OPEN_PATHS.has(path)) return
      const g = request.generation
      done({
        method: request.method,
        path,
        status: reply.statusCode,
        ms: reply.elapsedTime,
        promptTokens: g?.promptTokens,
        completionTokens: g?.completionTokens,
        finishReasons: g?.finishReasons,
      })
    })
  }

  modelsRoute(app, ctx)
  completionsRoute(app, ctx)
  chatRoute(app, ctx)
  tokenizeRoutes(app, ctx)
  probeRoutes(app, ctx)
  return app
}
