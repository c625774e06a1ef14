// One generating sequence as the scheduler runs it: its prompt, the tokens sampled so far, the text
// it has released, why it finished, and the channel its events reach the caller through.
import type { Constraint } from '../constrain/index.js'
import { KilnError } from '../errors.js'
import type { Tokenizer } from '../tokenizer/index.js'
import type {
  FinishReason,
  GenerationEvent,
  GenerationResult,
  GenerationTimings,
  PromptLogprobs,
} from './generate.js'
import { type Sampler, type TokenChoice, type TokenLogprob, tokenLogprobs } from './sampling.js'
import { firstStop, TextStream } from './text-stream.js'

/** What a sequence stops on: resolved options the scheduler applies to every token. */
export interface SequenceLimits {
  maxNewTokens: number
  minNewTokens: number
  eos: number[]
  stops: string[]
}

/** Thrown to a sequence's reader when it was cancelled (its signal aborted, or the scheduler closed). */
export class CancelledError extends KilnError {
  constructor(message = 'the generation was cancelled') {
    super('E_CANCELLED', message)
  }
}

/** Constrained decoding reached a state no token of the vocabulary continues. */
export class ConstraintError extends KilnError {
  constructor() {
    super('E_CONSTRAINT', 'constrained decoding found no token that continues the output validly')
  }
}

export class Sequence {
  readonly tokens: number[] = []
  /** Per generated token when logprobs were asked for. */
  readonly logprobs: { logprob: number; top: TokenLogprob[] }[] = []
  finish?: FinishReason
  /** Set when its reader went away; the scheduler frees its slot after the step in flight. */
  cancelled = false
  /** Positions whose keys and values are in the KV cache (computed, or taken from the prefix cache). */
  computed = 0
  /** KV slot while admitted; -1 while waiting or after it finished. */
  slot = -1
  /** The KV blocks holding its positions, in order (the slot's row of the block table). */
  blocks: number[] = []
  /** The prefix hashes of its first hashes.length full blocks (kv-blocks.ts). */
  hashes: string[] = []
  /** Its leading blocks already offered to the prefix cache. */
  registered = 0
  /** Its rows' adapter tag: 0 the base, k the model's k-th named adapter (Model.adapterTag). */
  adapter = 0
  /** With the promptLogprobs option: the prompt positions scored so far, position 0's null first. */
  promptLogprobs?: PromptLogprobs
  /** Alternatives per scored prompt position. */
  promptTop = 0
  readonly submittedAt = performance.now()
  admittedAt = 0
  firstTokenAt = 0
  finishedAt = 0
  private readonly stream: TextStream
  private readonly channel = new Channel<GenerationEvent, GenerationResult>()

  constructor(
    readonly prompt: number[],
    /** The event's `seq` field: the prompt's index in a batch. */
    readonly index: number,
    readonly sampler: Sampler,
    private readonly limits: SequenceLimits,
    private readonly tok: Tokenizer,
    /** Positions the sequence may use (the KV slot's length). */
    private readonly context: number,
    /** The grammar the output follows (responseFormat), if any. */
    private readonly constraint?: Constraint,
  ) {
    this.stream = new TextStream(tok, limits.stops)
  }

  /** Positions it has: the prompt, then the generated tokens. */
  get length(): number {
    return this.prompt.length + this.tokens.length
  }

  /** The token at position p (prompt, then generated). */
  tokenAt(p: number): number {
    return p < this.prompt.length ? this.prompt[p] : this.tokens[p - this.prompt.length]
  }

  get events(): AsyncIterable<GenerationEvent> {
    return this.channel
  }

  get result(): Promise<GenerationResult> {
    return this.channel.result
  }

  /**
   * True (and `finish` set) when the sequence has nothing left to do: it may not generate at all
   * (maxNewTokens 0) and no prompt position is left to score.
   */
  finishIfNothingToGenerate(): boolean {
    if (this.limits.maxNewTokens > 0 || this.scoringPrompt) return false
    this.finish = 'length'
    return true
  }

  /**
   * True while prompt positions are left to score. Their logits are needed, so such a sequence
   * computes its prompt instead of taking cached blocks.
   */
  get scoringPrompt(): boolean {
    return this.promptLogprobs !== undefined && this.promptLogprobs.length < this.prompt.length
  }

  /** True when the logits at position p are wanted to score the prompt token after it. */
  scoresAt(p: number): boolean {
    return (
      this.promptLogprobs !== undefined && p + 1 >= this.promptLogprobs.length && p + 1 < this.prompt.length
    )
  }

  /** Scores prompt token p + 1 with the logits at position p (once; a recomputed position is skipped). */
  scorePrompt(p: number, logits: Float32Array): void {
    if (!this.promptLogprobs || p + 1 !== this.promptLogprobs.length) return
    this.promptLogprobs.push(tokenLogprobs(logits, this.prompt[p + 1], this.promptTop))
  }

  /**
   * Token ids the next step must suppress (EOS before minNewTokens). Constrained output may end
   * whenever its grammar is complete: the grammar, not minNewTokens, says when.
   */
  suppress(): number[] {
    return this.tokens.length < this.limits.minNewTokens && !this.constraint ? this.limits.eos : []
  }

  /** The ids the next token may be (constrained decoding), undefined when any may; throws at a dead end. */
  allowed(): Uint32Array | undefined {
    if (!this.constraint) return undefined
    const mask = this.constraint.allowed()
    if (!mask) throw new ConstraintError()
    return mask
  }

  /** Appends a sampled token, sets `finish` when it ends the sequence, and emits its event. */
  accept(choice: TokenChoice): void {
    const { id } = choice
    const { eos, maxNewTokens } = this.limits
    if (this.tokens.length === 0) this.firstTokenAt = performance.now()
    this.tokens.push(id)
    this.constraint?.accept(id)
    let text = ''
    if (eos.includes(id)) this.finish = 'eos'
    else {
      text = this.stream.push(id)
      if (this.stream.stopped || this.constraint?.complete) this.finish = 'stop'
    }
    if (!this.finish && this.tokens.length >= maxNewTokens) this.finish = 'length'
    if (!this.finish && this.prompt.length + this.tokens.length >= this.context) this.finish = 'length'
    if (this.finish && !this.stream.stopped) text += this.stream.end()
    const event: GenerationEvent = { seq: this.index, id, text }
    if (this.tokens.length === 1 && this.promptLogprobs) event.promptLogprobs = this.promptLogprobs
    if (choice.logprob !== undefined) {
      const top = choice.top ?? []
      this.logprobs.push({ logprob: choice.logprob, top })
      event.logprob = choice.logprob
      event.topLogprobs = top
    }
    this.channel.push(event)
  }

  /** Ends the sequence: its reader gets the summary. */
  complete(): void {
    this.finish ??= 'length'
    this.finishedAt = performance.now()
    this.channel.end(this.summary())
  }

  /** Ends the sequence with an error (cancelled, or the engine failed). */
  fail(err: Error): void {
    this.finishedAt = performance.now()
    this.channel.fail(err)
  }

  private summary(): GenerationResult {
    return {
      text: this.finalText(),
      tokens: this.tokens,
      promptTokens: this.prompt.length,
      completionTokens: this.tokens.length,
      finishReason: this.finish ?? 'length',
      timings: this.timings(),
      ...(this.logprobs.length ? { logprobs: this.logprobs } : {}),
      ...(this.promptLogprobs ? { promptLogprobs: this.promptLogprobs } : {}),
    }
  }

  // The summary's text is the whole decode, as transformers gives it (streaming never takes back text
  // it printed, so an invalid byte run can stream differently), cut at the first stop string.
  private finalText(): string {
    const ids = this.finish === 'eos' ? this.tokens.slice(0, -1) : this.tokens
    const text = this.tok.decode(ids, { skipSpecialTokens: true })
    if (!this.stream.stopped) return text
    const at = firstStop(text, this.limits.stops)
    return at >= 0 ? text.slice(0, at) : this.stream.text
  }

  // Prefill: admission to the first token; decode: the first token to the last.
  private timings(): GenerationTimings {
    const first = this.firstTokenAt || this.finishedAt
    const prefillMs = Math.max(0, first - this.admittedAt)
    const decodeMs = Math.max(0, this.finishedAt - first)
    const decoded = Math.max(0, this.tokens.length - 1)
    return {
      prefillMs,
      decodeMs,
      prefillTokensPerS: prefillMs > 0 ? (this.prompt.length / prefillMs) * 1000 : 0,
      decodeTokensPerS: decodeMs > 0 ? (decoded / decodeMs) * 1000 : 0,
    }
  }
}

/** A one-reader async queue of events that ends with a result or an error. */
class Channel<E, R> implements AsyncIterable<E> {
  private readonly queue: E[] = []
  private wake?: () => void
  private done = false
  private error?: Error
  readonly result: Promise<R>
  private resolve!: (r: R) => void
  private reject!: (e: Error) => void

  constructor() {
    this.result = new Promise<R>((res, rej) => {
      this.resolve = res
      this.reject = rej
    })
    this.result.catch(() => {}) // a reader that only iterates sees the error there
  }

  push(e: E): void {
    this.queue.push(e)
    this.wake?.()
  }

  end(r: R): void {
    this.done = true
    this.resolve(r)
    this.wake?.()
  }

  fail(err: Error): void {
    this.done = true
    this.error = err
    this.reject(err)
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<E> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift() as E
      if (this.error) throw this.error
      if (this.done) return
      await new Promise<void>((res) => {
        this.wake = res
      })
      this.wake = undefined
    }
  }
}
