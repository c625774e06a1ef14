// The HTTP front end: a Fastify app with OpenAI's routes over a model, the vLLM-style extras
// (/tokenize, /detokenize, /health, /metrics), auth, limits and OpenAI errors. A text generator
// (scheduler) gets completions and chat; an encoder (batcher) gets embeddings and /classify; each
// answers the other kind's routes with a 400 that says what the model is for.
import Fastify, { type FastifyInstance } from 'fastify'
import { UsageError } from '../core/errors.js'
import { sentenceEmbedder } from '../core/pipelines/sentence-embedding.js'
import { quote } from '../core/util/shown.js'
import { bearerCheck, OPEN_PATHS, pathOf } from './auth.js'
import { ChatPrompt } from './chat-prompt.js'
import {
  type CommonServerOptions,
  type EncoderContext,
  type EncoderServing,
  type GeneratorServing,
  type ServerContext,
  ServerControl,
  type ServerOptions,
  type ServerTimeouts,
} from './context.js'
import { HttpError, toHttpError } from './errors.js'
import { ServerMetrics } from './metrics.js'
import { chatRoute } from './routes/chat.js'
import { classifyRoute } from './routes/classify.js'
import { completionsRoute } from './routes/completions.js'
import { embeddingsRoute } from './routes/embeddings.js'
import { modelsRoute } from './routes/models.js'
import { probeRoutes } from './routes/probes.js'
import { ENCODER_PATHS, GENERATOR_PATHS, refuseRoutes } from './routes/refused.js'
import { tokenizeRoutes } from './routes/tokenize.js'

export type {
  CommonServerOptions,
  EncoderServing,
  GeneratorServing,
  RequestSummary,
  ServerOptions,
  ServerTimeouts,
} from './context.js'
export { ServerControl } from './context.js'

/** Large enough for a long context sent as token ids or chat turns. */
const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024

/**
 * A client that opens connections and sends its request a byte at a time (slowloris) must not hold
 * them for long. Node checks these against the request being received only: headersMs and
 * requestMs run from a request's first byte (or the connection's opening) until its headers, or its
 * whole body, are in, and stop there. A response is never cut: a stream of tokens may run for
 * minutes, and a non-streamed completion writes nothing until it is done. That is also why there is
 * no idle timeout on a connection (Fastify's connectionTimeout stays 0): a request waiting in the
 * queue, or a long completion, is silent for as long as it takes.
 * - headersMs 10 s: headers are a few hundred bytes that any client sends at once; 10 s leaves a
 *   slow mobile link room and lets a slowloris client hold a connection for 10 s at most.
 * - requestMs 60 s: time for the largest body (8 MiB) at about 1 Mbit/s.
 * - keepAliveMs 72 s (Fastify's default): longer than the 60 s idle timeout of common load
 *   balancers, so that the balancer, not the server, closes an idle connection, never the server
 *   just as the balancer sends on it (a 502). Idle connections hold no request. (Node 20 keeps the
 *   socket up to a second longer.)
 * - checkIntervalMs 1 s: Node's default (30 s) would let a connection live 30 s past its timeout.
 */
export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  headersMs: 10_000,
  requestMs: 60_000,
  keepAliveMs: 72_000,
  checkIntervalMs: 1_000,
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Draining switch for the front end that owns the process (see ServerControl). */
    kiln: ServerControl
  }
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  const t = { ...DEFAULT_TIMEOUTS, ...opts.timeouts }
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    connectionTimeout: 0,
    keepAliveTimeout: t.keepAliveMs,
    requestTimeout: t.requestMs,
    // Node takes these when the server is made (and refuses a headers timeout past the request's).
    http: {
      headersTimeout: t.requestMs > 0 ? Math.min(t.headersMs, t.requestMs) : t.headersMs,
      requestTimeout: t.requestMs,
      connectionsCheckingInterval: t.checkIntervalMs,
    },
  })
  const control = new ServerControl()
  const ctx = opts.encoder ? encoderContext(opts, control) : generatorContext(opts, control)
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
        promptTokens: g?.promptTokens ?? request.encoded?.promptTokens,
        completionTokens: g?.completionTokens,
        finishReasons: g?.finishReasons,
      })
    })
  }

  modelsRoute(app, ctx)
  tokenizeRoutes(app, ctx)
  probeRoutes(app, ctx)
  if ('encoder' in ctx) {
    embeddingsRoute(app, ctx)
    classifyRoute(app, ctx)
    refuseRoutes(app, ctx, GENERATOR_PATHS)
  } else {
    completionsRoute(app, ctx)
    chatRoute(app, ctx)
    refuseRoutes(app, ctx, ENCODER_PATHS)
  }
  return app
}

function common(opts: CommonServerOptions, control: ServerControl) {
  return {
    servedModelName: opts.servedModelName,
    maxQueue: opts.maxQueue ?? Number.POSITIVE_INFINITY,
    control,
    startedAt: Math.floor(Date.now() / 1000),
  }
}

function generatorContext(
  opts: CommonServerOptions & GeneratorServing,
  control: ServerControl,
): ServerContext {
  const { model, scheduler } = opts
  if (model.adapterNames.includes(opts.servedModelName))
    throw new UsageError(
      `the adapter name ${quote(opts.servedModelName)} is also the served model's name; requests could not tell them apart`,
    )
  return {
    ...common(opts, control),
    adapterNames: model.adapterNames,
    model,
    scheduler,
    tokenizer: model.tokenizer,
    vocabSize: model.config.vocabSize,
    maxModelLen: scheduler.contextLength,
    chat: new ChatPrompt(model.tokenizer, opts.chatTemplate),
    metrics: new ServerMetrics(scheduler, opts.servedModelName),
  }
}

function encoderContext(opts: CommonServerOptions & EncoderServing, control: ServerControl): EncoderContext {
  const { encoder } = opts
  const { model } = encoder
  const embedder = sentenceEmbedder(model, { limit: opts.maxInputTokens })
  return {
    ...common(opts, control),
    adapterNames: [],
    encoder,
    embedder,
    inputLimit: opts.maxInputTokens,
    tokenizer: model.tokenizer,
    vocabSize: model.config.vocabSize,
    maxModelLen: embedder.maxLength,
    chat: new ChatPrompt(model.tokenizer, opts.chatTemplate),
    metrics: new ServerMetrics(encoder, opts.servedModelName),
  }
}
