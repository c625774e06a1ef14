// The server's errors as OpenAI writes them: a status and {"error": {message, type, param, code}}.
// Core's typed errors become statuses here, their messages naming options as HTTP fields (top_p).
import { InputError, KilnError, renderMessage, UsageError } from '../core/errors.js'
import { QueueFullError, SchedulerClosedError } from '../core/runtime/scheduler.js'
import { CancelledError } from '../core/runtime/sequence.js'
import { TokenizerError } from '../core/tokenizer/errors.js'

/** The body OpenAI sends with every error. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

/** An error with the status, OpenAI `type`, `param` and `code` it is answered with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }

  get type(): string {
    if (this.status === 429) return 'rate_limit_error'
    if (this.status === 401) return 'authentication_error'
    if (this.status >= 500) return 'server_error'
    return 'invalid_request_error'
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

/** A request field this server does not implement (yet): a 400 naming it, never silently ignored. */
export function unsupported(param: string, what: string): HttpError {
  return new HttpError(400, `this server does not support ${what}`, param, 'unsupported_parameter')
}

/** A library option name as an HTTP field: `topP` is top_p, `maxNewTokens` max_tokens. */
export type FieldName = (option: string) => string

const FIELD_OF_OPTION: Record<string, string> = { maxNewTokens: 'max_tokens', minNewTokens: 'min_tokens' }

export const httpField: FieldName = (option) =>
  FIELD_OF_OPTION[option] ?? option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** Where a request's InputErrors point (the prompt of a completion, the messages of a chat). */
export interface ErrorContext {
  field?: FieldName
  inputParam?: string
}

// Fastify's own errors for bodies it cannot take, in OpenAI's words.
const FASTIFY_ERRORS: Record<string, (e: Error) => HttpError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new HttpError(413, 'the request body is larger than this server accepts'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new HttpError(400, 'the request body is not valid JSON', null, 'invalid_json'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new HttpError(400, 'the request body is empty', null, 'invalid_json'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new HttpError(415, 'send the request body as JSON (Content-Type: application/json)'),
}

/**
 * Any error as the server answers it. Errors that are not the client's (a 500) keep only their
 * message: stacks go to onInternalError, never to the client.
 */
export function toHttpError(err: unknown, ctx: ErrorContext = {}): HttpError {
  const field = ctx.field ?? httpField
  if (err instanceof HttpError) return err
  if (err instanceof QueueFullError)
    return new HttpError(
      429,
      'the server is busy: its request queue is full; retry later',
      null,
      'queue_full',
      {
        'retry-after': '1',
      },
    )
  if (err instanceof SchedulerClosedError)
    return new HttpError(503, 'the server is shutting down and takes no new requests', null, 'draining')
  if (err instanceof CancelledError)
    return new HttpError(503, 'the server shut down before the request finished', null, 'shutdown')
  if (err instanceof UsageError) {
    const param = err.options.length ? field(err.options[0]) : null
    return new HttpError(400, renderMessage(err, field), param, 'invalid_value')
  }
  if (err instanceof InputError)
    return new HttpError(400, renderMessage(err, field), ctx.inputParam ?? null, 'invalid_value')
  if (err instanceof TokenizerError)
    return new HttpError(400, renderMessage(err, field), ctx.inputParam ?? null, 'invalid_value')
  const e = err as Error & { code?: string; statusCode?: number }
  const fastify = e?.code ? FASTIFY_ERRORS[e.code] : undefined
  if (fastify) return fastify(e)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return new HttpError(e.statusCode, e.message)
  const message = err instanceof KilnError ? renderMessage(err, field) : String(e?.message ?? err)
  return new HttpError(500, `internal error: ${message}`, null, 'internal_error')
}
