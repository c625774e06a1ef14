// Runs one request's inputs through the encoder's batcher, where they share forward passes with
// other requests' inputs, reducing each input's rows (pooling, scoring) as soon as its pass
// returns. A client that goes away drops its inputs that still wait. Also what every encoder route
// checks of its inputs: present, inside the vocabulary, no longer than the model takes.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EncoderInput, EncoderOutput } from '../core/runtime/encoder.js'
import type { PassRows } from '../core/runtime/encoder-batcher.js'
import type { EncoderContext } from './context.js'
import { HttpError, toHttpError } from './errors.js'
import { checkTokenIds } from './routes/checks.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** What an encoder route ran, for the request summary. */
    encoded?: { promptTokens: number }
  }
}

/** OpenAI's limit on the inputs of one embeddings request. */
export const MAX_INPUTS = 2048

/** Refuses an input list that is empty or longer than MAX_INPUTS, naming `param`. */
export function checkInputCount(count: number, param: string): void {
  if (count === 0) throw new HttpError(400, `${param} must not be empty`, param, 'invalid_value')
  if (count > MAX_INPUTS)
    throw new HttpError(
      400,
      `${param} has ${count} items; at most ${MAX_INPUTS} are taken in one request`,
      param,
      'invalid_value',
    )
}

/**
 * Input `i` of `count` as the model takes it: not empty, ids in the vocabulary, at most `maxLength`
 * tokens. Too long is an error, as OpenAI answers it, never a silent cut.
 */
export function checkInput(
  ctx: EncoderContext,
  input: EncoderInput,
  at: { i: number; count: number; param: string; maxLength: number },
): void {
  const what = at.count > 1 ? `${at.param}[${at.i}]` : at.param
  checkTokenIds(ctx, input.ids as number[], at.param, what)
  if (input.ids.length > at.maxLength)
    throw new HttpError(
      400,
      `This model's maximum input length is ${at.maxLength} tokens. However, ${what} has ${input.ids.length} tokens. Please reduce the length of the ${at.param}.`,
      at.param,
      'context_length_exceeded',
    )
}

/** Lets other requests' work in between when tokenizing many inputs (sync work) takes a while. */
export function yielder(everyMs = 10): () => Promise<void> {
  let since = performance.now()
  return async () => {
    if (performance.now() - since < everyMs) return
    await new Promise((res) => setImmediate(res))
    since = performance.now()
  }
}

export async function runEncoder<R>(
  ctx: EncoderContext,
  request: FastifyRequest,
  reply: FastifyReply,
  inputs: readonly EncoderInput[],
  output: EncoderOutput,
  rows: PassRows,
  reduce: (out: Float32Array, i: number) => R,
): Promise<R[]> {
  const controller = new AbortController()
  let clientGone = false
  const leave = () => {
    clientGone = true
    controller.abort()
  }
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) leave()
  })
  // The client may have gone while the inputs were being tokenized.
  if (request.raw.socket?.destroyed) leave()
  const t0 = performance.now()
  let admitted = false
  try {
    // Only the reduced results are kept: a settled promise holds its value, and an input's rows
    // (every token's vector) must be free to go once reduced.
    const reduced = ctx.encoder
      .submit(inputs, output, rows, controller.signal)
      .map((p, i) => p.then((out) => reduce(out, i)))
    admitted = true
    request.encoded = { promptTokens: inputs.reduce((n, x) => n + x.ids.length, 0) }
    const results = await Promise.all(reduced)
    ctx.metrics.encoded(inputs.length, 'stop', (performance.now() - t0) / 1000)
    return results
  } catch (e) {
    controller.abort() // the inputs still waiting are nobody's now
    if (admitted) ctx.metrics.encoded(inputs.length, 'abort', (performance.now() - t0) / 1000)
    // Nobody is left to read the answer; 499 (client closed request) is for the logs.
    if (clientGone) throw new HttpError(499, 'the client closed the request')
    throw toHttpError(e, { inputParam: 'input' })
  }
}
