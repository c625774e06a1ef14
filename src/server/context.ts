// What buildServer is given, and what every route shares: the name the model is served under, its
// tokenizer and limits, the metrics, whether the server is draining; and, by the model's kind, a
// generator's scheduler and chat prompt or an encoder's batcher and sentence embedder.
import type { SentenceEmbedder } from '../core/pipelines/sentence-embedding.js'
import type { EncoderBatcher } from '../core/runtime/encoder-batcher.js'
import type { Model } from '../core/runtime/model.js'
import type { Scheduler } from '../core/runtime/scheduler.js'
import type { Tokenizer } from '../core/tokenizer/index.js'
import type { ChatPrompt } from './chat-prompt.js'
import type { ServerMetrics } from './metrics.js'

/** A text generator: completions and chat. */
export interface GeneratorServing {
  model: Model
  /** The scheduler over `model` that runs every generation (the server never closes it). */
  scheduler: Scheduler
  encoder?: undefined
}

/** An encoder (BERT family): embeddings, and classification when it has the head. */
export interface EncoderServing {
  /** The batcher over the encoder that runs every request (the server never closes it). */
  encoder: EncoderBatcher
  /** Longest input in tokens, below the model's own (kiln serve's --context). */
  maxInputTokens?: number
  model?: undefined
}

export type ServerOptions = CommonServerOptions & (GeneratorServing | EncoderServing)

export interface CommonServerOptions {
  /** The model's name in /v1/models and the only `model` requests may name. */
  servedModelName: string
  /** Clients must send `Authorization: Bearer <apiKey>` (all routes but /health and /metrics). */
  apiKey?: string
  /** Largest request body in bytes (default 8 MiB); a larger one is a 413. */
  bodyLimit?: number
  /** Jinja source replacing the model's chat template (chat, and /tokenize's messages). */
  chatTemplate?: string
  /**
   * Sequences that may wait for a KV slot beyond the running ones (default: no limit); a request
   * that would go past it is a 429. (An encoder's batcher has its own maxQueue, in inputs.)
   */
  maxQueue?: number
  /** How long a client may take to send a request (default: DEFAULT_TIMEOUTS in app.ts). */
  timeouts?: Partial<ServerTimeouts>
  /** After every request but /health and /metrics: for logs. */
  onRequestDone?: (summary: RequestSummary) => void
  /** A 500: the server's own failure, for logs (the client gets the message alone). */
  onInternalError?: (err: unknown) => void
}

/**
 * Limits on how slowly a client may send: they bound the time a connection can be held without
 * giving the server a whole request, never the time the server takes to answer one.
 */
export interface ServerTimeouts {
  /** From a request's first byte until its headers are in; past it: 408 and the connection closed. */
  headersMs: number
  /** From a request's first byte until its whole body is in (at least headersMs). */
  requestMs: number
  /** An idle keep-alive connection, between requests, is closed after this. */
  keepAliveMs: number
  /** How often the connections are checked against headersMs and requestMs. */
  checkIntervalMs: number
}

/** One request as the front end may log it. */
export interface RequestSummary {
  method: string
  path: string
  status: number
  ms: number
  /** Set on generation and encoder routes that got as far as running the model. */
  promptTokens?: number
  /** Generation routes only. */
  completionTokens?: number
  finishReasons?: string[]
}

/** The server's run state, for the front end that owns the process (signals, shutdown). */
export class ServerControl {
  private drainingSince = 0

  get draining(): boolean {
    return this.drainingSince > 0
  }

  /** /health turns 503 and new requests are refused with 503; running ones go on. */
  startDraining(): void {
    this.drainingSince ||= Date.now()
  }
}

/** What every route has, whatever the model. */
export interface BaseContext {
  servedModelName: string
  /** The LoRA adapters a request may name as its model (the generator's Model.adapterNames). */
  adapterNames: readonly string[]
  tokenizer: Tokenizer
  vocabSize: number
  /** The longest prompt (a generator: prompt and completion together): /v1/models' max_model_len. */
  maxModelLen: number
  maxQueue: number
  chat: ChatPrompt
  metrics: ServerMetrics
  control: ServerControl
  /** Unix seconds the server started: /v1/models' `created`. */
  startedAt: number
}

export interface ServerContext extends BaseContext {
  model: Model
  scheduler: Scheduler
}

export interface EncoderContext extends BaseContext {
  encoder: EncoderBatcher
  embedder: SentenceEmbedder
  /** EncoderServing's maxInputTokens. */
  inputLimit?: number
}
