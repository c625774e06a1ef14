// Prometheus metrics for /metrics, named as vLLM v1 names them under a `kiln:` prefix so that
// dashboards written for vLLM read kiln with the prefix swapped. A registry of the server's own
// (not prom-client's global one), so several servers in one process do not share numbers.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { SchedulerStats, StepInfo } from '../core/runtime/scheduler-types.js'
import type { Sequence } from '../core/runtime/sequence.js'

// vLLM's buckets, with finer ones at the low end: small models on kiln answer in milliseconds.
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640,
  2560,
]
const ITL_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5,
  10, 20, 40, 80,
]
const E2E_BUCKETS = [
  0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920,
  7680,
]
const ITERATION_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]

/** How a sequence ended, as vLLM's finished_reason label says it (eos is a stop). */
export type FinishedReason = 'stop' | 'length' | 'abort'

/**
 * What runs the model, as the metrics read it: a generator's scheduler, or an encoder's batcher
 * (which has no KV cache and generates nothing: those read 0). `onStep` is chained, not replaced.
 */
export interface MetricsSource {
  readonly stats: Pick<SchedulerStats, 'running' | 'waiting' | 'promptTokens'> & Partial<SchedulerStats>
  onStep?(info: Pick<StepInfo, 'rows'>): void
}

export class ServerMetrics {
  readonly registry = new Registry()
  private readonly success: Counter<'model_name' | 'finished_reason'>
  private readonly ttft: Histogram<'model_name'>
  private readonly itl: Histogram<'model_name'>
  private readonly e2e: Histogram<'model_name'>
  private readonly labels: { model_name: string }

  constructor(source: MetricsSource, modelName: string) {
    const registers = [this.registry]
    const labelNames = ['model_name'] as const
    this.labels = { model_name: modelName }
    const labels = this.labels
    // Load and token totals are the scheduler's own numbers, read when Prometheus scrapes.
    new Gauge({
      name: 'kiln:num_requests_running',
      help: 'Sequences in the running batch (each choice of a request is one).',
      labelNames,
      registers,
      collect() {
        this.set(labels, source.stats.running)
      },
    })
    new Gauge({
      name: 'kiln:num_requests_waiting',
      help: 'Sequences waiting for a KV slot.',
      labelNames,
      registers,
      collect() {
        this.set(labels, source.stats.waiting)
      },
    })
    new Gauge({
      name: 'kiln:kv_cache_usage_perc',
      help: 'Fraction of the KV cache blocks held by running sequences (1 = full).',
      labelNames,
      registers,
      collect() {
        this.set(labels, source.stats.kvUsage ?? 0)
      },
    })
    const mirror = (name: string, help: string, read: () => number) => {
      let seen = 0
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          const now = read()
          // inc(0) too: the series shows from the first scrape, at 0.
          this.inc(labels, Math.max(0, now - seen))
          seen = now
        },
      })
    }
    mirror('kiln:prompt_tokens_total', 'Prompt tokens prefilled.', () => source.stats.promptTokens)
    mirror('kiln:generation_tokens_total', 'Tokens generated.', () => source.stats.generationTokens ?? 0)
    mirror(
      'kiln:prefix_cache_queries_total',
      'Prompt tokens looked up in the prefix cache.',
      () => source.stats.prefixQueries ?? 0,
    )
    mirror(
      'kiln:prefix_cache_hits_total',
      'Prompt tokens found in the prefix cache (not computed again).',
      () => source.stats.prefixHits ?? 0,
    )
    mirror(
      'kiln:num_preemptions_total',
      'Sequences preempted for want of KV blocks (recomputed later).',
      () => source.stats.preemptions ?? 0,
    )
    this.success = new Counter({
      name: 'kiln:request_success_total',
      help: 'Sequences finished, by finished_reason (stop, length, abort).',
      labelNames: ['model_name', 'finished_reason'],
      registers,
    })
    this.ttft = new Histogram({
      name: 'kiln:time_to_first_token_seconds',
      help: 'From a sequence being queued to its first token.',
      labelNames,
      buckets: TTFT_BUCKETS,
      registers,
    })
    this.itl = new Histogram({
      name: 'kiln:inter_token_latency_seconds',
      help: 'Between two tokens of one sequence.',
      labelNames,
      buckets: ITL_BUCKETS,
      registers,
    })
    this.e2e = new Histogram({
      name: 'kiln:e2e_request_latency_seconds',
      help: 'From a sequence being queued to its end.',
      labelNames,
      buckets: E2E_BUCKETS,
      registers,
    })
    const iteration = new Histogram({
      name: 'kiln:iteration_tokens_total',
      help: 'Token rows per forward step (prefill and decode; an encoder: the tokens of a pass).',
      labelNames,
      buckets: ITERATION_BUCKETS,
      registers,
    })
    const before = source.onStep
    source.onStep = (info) => {
      before?.(info)
      iteration.observe(labels, info.rows)
    }
  }

  /** A sequence's first token (its time to first token is the sequence's own record of it). */
  firstToken(seq: Sequence): void {
    if (seq.firstTokenAt > 0) this.ttft.observe(this.labels, (seq.firstTokenAt - seq.submittedAt) / 1000)
  }

  interToken(ms: number): void {
    this.itl.observe(this.labels, ms / 1000)
  }

  finished(seq: Sequence, reason: FinishedReason): void {
    this.success.inc({ ...this.labels, finished_reason: reason })
    const end = seq.finishedAt || performance.now()
    this.e2e.observe(this.labels, (end - seq.submittedAt) / 1000)
  }

  /** An encoder request's inputs, each one sequence as vLLM counts pooling requests. */
  encoded(inputs: number, reason: 'stop' | 'abort', seconds: number): void {
    if (inputs === 0) return
    this.success.inc({ ...this.labels, finished_reason: reason }, inputs)
    for (let i = 0; i < inputs; i++) this.e2e.observe(this.labels, seconds)
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }
}
