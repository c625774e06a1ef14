// What a Scheduler takes and reports: its options, a snapshot of its load, one step's rows, and
// the errors submit() throws when it cannot take a request.
import { KilnError } from '../errors.js'

export interface SchedulerOptions {
  /** Sequences that run at once: the KV slots (default 1). */
  maxSeqs?: number
  /** Positions per sequence (prompt + generated); default: the model's context. */
  contextLength?: number
  /** Requests that may wait for a slot; beyond it submit() throws QueueFullError (default: no limit). */
  maxQueue?: number
  /** KV blocks in the pool (default: every slot its whole context, so nothing is ever preempted). */
  kvBlocks?: number
  /** The pool's size in bytes instead (as many whole blocks as fit); not with kvBlocks. */
  kvMemory?: number
  /** Reuse cached KV blocks of a shared prompt prefix (default true). */
  prefixCache?: boolean
}

/** A snapshot of the scheduler's load, for metrics and health checks. */
export interface SchedulerStats {
  running: number
  waiting: number
  slots: number
  contextLength: number
  /** Fraction of the KV pool's blocks held by running sequences. */
  kvUsage: number
  kvBlocks: number
  blockSize: number
  /** Idle blocks that still hold a cached prefix. */
  cachedBlocks: number
  promptTokens: number
  generationTokens: number
  steps: number
  /** Prompt tokens looked up in the prefix cache, and of those, found there. */
  prefixQueries: number
  prefixHits: number
  /** Sequences preempted for want of KV blocks (recomputed later). */
  preemptions: number
}

/** One forward step: how many token rows it carried, of which prefill and decode, and its time. */
export interface StepInfo {
  rows: number
  prefillRows: number
  decodeRows: number
  ms: number
}

export interface SubmitOptions {
  /** Cancels the sequence (waiting: at once; running: its slot is freed after the current step). */
  signal?: AbortSignal
  /** The events' `seq` field, and the offset added to the seed (as generateMany numbers prompts). */
  index?: number
}

/** submit() when maxQueue requests are already waiting. */
export class QueueFullError extends KilnError {
  constructor(readonly waiting: number) {
    super('E_QUEUE_FULL', `${waiting} requests are already waiting; try again later`)
  }
}

/** submit() after drain() or close(). */
export class SchedulerClosedError extends KilnError {
  constructor() {
    super('E_CLOSED', 'the scheduler no longer accepts requests (it is draining or closed)')
  }
}
