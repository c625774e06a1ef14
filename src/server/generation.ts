// One request's sequences on the scheduler: admission against the queue limit, one sequence per
// prompt × n, one AbortController that cancels them all (client gone, or a sibling failed), and
// their events merged in arrival order for streaming, with the metrics observed on the way.
import { setMaxListeners } from 'node:events'
import type {
  FinishReason,
  GenerateOptions,
  GenerationEvent,
  GenerationResult,
} from '../core/runtime/generate.js'
import { QueueFullError } from '../core/runtime/scheduler.js'
import type { Sequence } from '../core/runtime/sequence.js'
import type { ServerContext } from './context.js'

/** OpenAI's finish_reason: EOS and stop strings are both `stop`. */
export function openAiFinishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop'
}

/** What a route asks to generate: token ids per prompt, choices per prompt, core's options. */
export interface GenerationPlan {
  prompts: number[][]
  n: number
  options: GenerateOptions
}

/** One item of a merged stream: a token event of choice `choice`, or its end. */
export type ChoiceUpdate =
  | { choice: number; event: GenerationEvent }
  | { choice: number; result: GenerationResult }

export class GenerationRun {
  readonly controller = new AbortController()
  private readonly followers: AsyncGenerator<GenerationEvent, GenerationResult>[]

  /** Submits every sequence, or none: a failure part way cancels those already queued. */
  constructor(
    private readonly ctx: ServerContext,
    readonly plan: GenerationPlan,
  ) {
    const { scheduler } = ctx
    const count = plan.prompts.length * plan.n
    // A request's sequences are admitted all or none: the slots plus the queue must hold them all
    // beside what is already running and waiting (the scheduler itself has no queue limit here).
    const { running, waiting } = scheduler.stats
    if (running + waiting + count > scheduler.maxSeqs + ctx.maxQueue) throw new QueueFullError(waiting)
    const seqs: Sequence[] = []
    // Each sequence listens for the one abort; Node warns past 10 listeners on a signal.
    setMaxListeners(count + 1, this.controller.signal)
    try {
      plan.prompts.forEach((ids, p) => {
        for (let j = 0; j < plan.n; j++)
          seqs.push(
            scheduler.submit(ids, plan.options, { signal: this.controller.signal, index: p * plan.n + j }),
          )
      })
    } catch (e) {
      this.controller.abort()
      throw e
    }
    this.followers = seqs.map((s) => this.follow(s))
  }

  get cancelled(): boolean {
    return this.controller.signal.aborted
  }

  cancel(): void {
    this.controller.abort()
  }

  /** Every choice's result, in choice order (a failed choice cancels the others). */
  async results(): Promise<GenerationResult[]> {
    try {
      return await Promise.all(this.followers.map((f) => finish(f)))
    } catch (e) {
      this.cancel()
      throw e
    }
  }

  /** Token events and ends of every choice, as the steps produce them. */
  async *updates(): AsyncGenerator<ChoiceUpdate> {
    const next = (choice: number) => this.followers[choice].next().then((step) => ({ choice, step }))
    const pending = new Map(this.followers.map((_, i) => [i, next(i)]))
    try {
      while (pending.size) {
        const { choice, step } = await Promise.race(pending.values())
        if (step.done) {
          pending.delete(choice)
          yield { choice, result: step.value }
        } else {
          pending.set(choice, next(choice))
          yield { choice, event: step.value }
        }
      }
    } finally {
      // A reader that stops early (client gone, an error) takes the sequences with it; their
      // pending reads then fail with CancelledError, which nobody is left to hear.
      if (pending.size) {
        this.cancel()
        for (const p of pending.values()) p.catch(() => {})
      }
    }
  }

  /** A sequence's events, timed for the metrics, then its result. */
  private async *follow(seq: Sequence): AsyncGenerator<GenerationEvent, GenerationResult> {
    const { metrics } = this.ctx
    let last = 0
    let ended = false
    try {
      for await (const e of seq.events) {
        const now = performance.now()
        if (last) metrics.interToken(now - last)
        else metrics.firstToken(seq)
        last = now
        yield e
      }
      const result = await seq.result
      ended = true
      metrics.finished(seq, openAiFinishReason(result.finishReason))
      return result
    } finally {
      if (!ended) metrics.finished(seq, 'abort')
    }
  }
}

async function finish<R>(gen: AsyncGenerator<unknown, R>): Promise<R> {
  for (;;) {
    const step = await gen.next()
    if (step.done) return step.value
  }
}
