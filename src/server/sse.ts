// Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]\n\n` last,
// and an error that happens after the headers went out as one `data: {"error": …}` event.
import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import type { ErrorBody } from './errors.js'

export function sseData(chunk: unknown): string {
  return `data: ${JSON.stringify(chunk)}\n\n`
}

export const SSE_DONE = 'data: [DONE]\n\n'

export function sseError(body: ErrorBody): string {
  return sseData(body)
}

/** Sends `events` (already framed) as an event stream; Fastify pipes it with backpressure. */
export function sendEventStream(reply: FastifyReply, events: AsyncIterable<string>): FastifyReply {
  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no') // proxies (nginx) must not hold chunks back
    .send(Readable.from(events, { objectMode: false }))
}
