// What buildServer is given, and what every route shares: the model, its scheduler, the name it is
// served under, the chat prompt, the metrics, and whether the server is draining.
import type { Model } from '../core/runtime/model.js'
import type { Scheduler } from '../core/runtime/scheduler.js'
import type { ChatPrompt } from './chat-prompt.js'
import type { ServerMetrics } from './metrics.js'

export interface ServerOptions {
  model: Model
  /** The scheduler over `model` that runs every generation (the server never closes it). */
  scheduler: Scheduler
  /** The model's name in /v1/models and the only `model` requests may name. */
  servedModelName: string
  /** Clients must send `Authorization: Bearer <apiKey>` (all routes but /health and /metrics). */
  apiKey?: string
  /** Largest request body in bytes (default 8 MiB); a larger one is a 413. */
  bodyLimit?: number
  /** Jinja source replacing the model's chat template. */
  chatTemplate?: string
  /**
   * Sequences that may wait for a KV slot beyond the running ones (default: no limit); a request
   * that would go past it is a 429.
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
  /** Set on generation routes that got as far as generating. */
  promptTokens?: number
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

export interface ServerContext {
  model: Model
  scheduler: Scheduler
  servedModelName: string
  maxQueue: number
  chat: ChatPrompt
  metrics: ServerMetrics
  control: ServerControl
  /** Unix seconds the server started: /v1/models' `created`. */
  startedAt: number
}
