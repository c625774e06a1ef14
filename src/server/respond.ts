// Runs a planned generation for one HTTP request and answers it, as one JSON body or as an event
// stream, in the shapes a route's format gives. A client that goes away cancels its sequences.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FinishReason, GenerationResult, PromptLogprobs } from '../core/runtime/generate.js'
import type { ServerContext } from './context.js'
import { type ErrorContext, HttpError, toHttpError } from './errors.js'
import { type GenerationPlan, GenerationRun, openAiFinishReason } from './generation.js'
import type { TokenLogprobs } from './logprobs.js'
import { SSE_DONE, sendEventStream, sseData, sseError } from './sse.js'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

/** How a route's responses look (text completions and chat completions differ only here). */
export interface ResponseFormat {
  /** The whole response of a request that does not stream. */
  body(results: GenerationResult[], usage: Usage): unknown
  /** Chunks before any token (chat: each choice's role). */
  opening(choices: number): unknown[]
  /**
   * A choice's first chunk, sent with its first update (completions' echo: the prompt, with its
   * log-probabilities when asked, which are known only once the prompt ran).
   */
  prompt?(choice: number, promptLogprobs?: PromptLogprobs): unknown
  /** A chunk with text for one choice, with the log-probabilities of the tokens it holds (if asked). */
  text(choice: number, text: string, logprobs?: TokenLogprobs[]): unknown
  /** A choice's last chunk, with the log-probabilities of tokens not yet sent (if asked). */
  finish(choice: number, reason: 'stop' | 'length', logprobs?: TokenLogprobs[]): unknown
  /** The usage chunk (stream_options.include_usage): empty choices. */
  usage(usage: Usage): unknown
}

export interface RespondOptions {
  stream: boolean
  includeUsage: boolean
  errors: ErrorContext
}

/** What the request summary (RequestSummary) reports of a generation. */
export interface GenerationTally {
  promptTokens: number
  completionTokens: number
  finishReasons: string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    generation?: GenerationTally
  }
}

export async function respond(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  plan: GenerationPlan,
  format: ResponseFormat,
  opts: RespondOptions,
): Promise<unknown> {
  let run: GenerationRun
  try {
    run = new GenerationRun(ctx, plan)
  } catch (e) {
    throw toHttpError(e, opts.errors)
  }
  let clientGone = false
  const leave = () => {
    clientGone = true
    run.cancel()
  }
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) leave()
  })
  // The client may have gone while the prompt was being prepared.
  if (request.raw.socket?.destroyed) leave()
  const promptTokens = plan.prompts.reduce((sum, p) => sum + p.length, 0)
  const tally: GenerationTally = { promptTokens, completionTokens: 0, finishReasons: [] }
  request.generation = tally
  const usage = (): Usage => ({
    prompt_tokens: promptTokens,
    completion_tokens: tally.completionTokens,
    total_tokens: promptTokens + tally.completionTokens,
  })
  const ended = (reason: FinishReason, tokens: number) => {
    tally.completionTokens += tokens
    const r = openAiFinishReason(reason)
    tally.finishReasons.push(r)
    return r
  }

  if (!opts.stream) {
    let results: GenerationResult[]
    try {
      results = await run.results()
    } catch (e) {
      // Nobody is left to read the answer; 499 (client closed request) is for the logs.
      if (clientGone) throw new HttpError(499, 'the client closed the request')
      throw toHttpError(e, opts.errors)
    }
    for (const r of results) ended(r.finishReason, r.completionTokens)
    return format.body(results, usage())
  }

  async function* events(): AsyncGenerator<string> {
    for (const chunk of format.opening(plan.prompts.length * plan.n)) yield sseData(chunk)
    // Tokens whose text is held back (part of a character, a possible stop string) keep their
    // log-probabilities here until a chunk carries text, or the choice's last chunk.
    const pending = new Map<number, TokenLogprobs[]>()
    const take = (choice: number) => {
      const list = pending.get(choice)
      pending.delete(choice)
      return list
    }
    const started = new Set<number>()
    try {
      for await (const update of run.updates()) {
        if (format.prompt && !started.has(update.choice)) {
          started.add(update.choice)
          const scores = 'event' in update ? update.event.promptLogprobs : update.result.promptLogprobs
          yield sseData(format.prompt(update.choice, scores))
        }
        if ('event' in update) {
          const { event, choice } = update
          if (event.logprob !== undefined) {
            const list = pending.get(choice) ?? []
            list.push({ id: event.id, logprob: event.logprob, top: event.topLogprobs ?? [] })
            pending.set(choice, list)
          }
          if (event.text) yield sseData(format.text(choice, event.text, take(choice)))
        } else {
          const reason = ended(update.result.finishReason, update.result.completionTokens)
          yield sseData(format.finish(update.choice, reason, take(update.choice)))
        }
      }
      if (opts.includeUsage) yield sseData(format.usage(usage()))
    } catch (e) {
      if (clientGone) return
      yield sseError(toHttpError(e, opts.errors).body())
    }
    yield SSE_DONE
  }
  return sendEventStream(reply, events())
}
