// What `kiln finetune` shows while it trains: on a terminal one line redrawn per step (step/total,
// loss, learning rate, tokens/s, ETA, last eval loss) with eval and checkpoint lines above it; plain
// lines when stderr is not a terminal (a log: one every few seconds, not one per step); with --json
// one JSON line per event on stdout; nothing with --quiet.
import type { FinetuneEvent } from '../../core/train/types.js'
import { type CliIo, cliIo } from '../io.js'

type StepEvent = Extract<FinetuneEvent, { type: 'step' }>
export type FinetuneProgressMode = 'json' | 'tty' | 'lines' | 'none'

export interface FinetuneProgressOptions {
  json: boolean
  quiet: boolean
  /** Not a terminal: at most one step line per this many ms (the first and last steps always). */
  lineIntervalMs?: number
  now?: () => number
}

export function progressMode(opts: { json: boolean; quiet: boolean }, io: CliIo): FinetuneProgressMode {
  if (opts.json) return 'json'
  if (opts.quiet) return 'none'
  // CI logs keep every \r redraw as a line of their own.
  return io.stderr.isTTY === true && !process.env.CI ? 'tty' : 'lines'
}

/** An event as its --json line: snake_case, as every kiln JSON document. */
export function jsonEvent(e: FinetuneEvent): Record<string, unknown> {
  switch (e.type) {
    case 'start':
      return {
        event: 'start',
        method: e.method,
        total_steps: e.totalSteps,
        trainable_parameters: e.trainableParameters,
        examples: e.examples,
        start_step: e.startStep,
        records: e.data.records,
        windowed: e.data.windowed,
        truncated: e.data.truncated,
        skipped: e.data.skipped,
      }
    case 'step':
      return {
        event: 'step',
        step: e.step,
        total_steps: e.totalSteps,
        loss: e.loss,
        lr: e.lr,
        grad_norm: e.gradNorm,
        tokens: e.tokens,
        tokens_per_second: e.tokensPerSecond,
        elapsed_ms: e.elapsedMs,
        eta_ms: e.etaMs,
      }
    case 'eval':
      return { event: 'eval', step: e.step, loss: e.loss }
    case 'save':
      return { event: 'save', step: e.step, dir: e.dir }
  }
}

/** 1h02m, 3m07s, 42s; `--` when unknown. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--'
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

export const formatLoss = (x: number | undefined): string =>
  x === undefined ? '--' : Number.isFinite(x) ? x.toFixed(4) : String(x).toLowerCase()

/** 950, 5.4k, 1.2M. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '--'
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`
  return n.toFixed(0)
}

/** `step 120/1000 · loss 1.2345 · lr 1.80e-4 · 5.4k tok/s · ETA 3m12s · eval 1.3012`. */
export function stepLine(e: StepEvent, lastEval?: number): string {
  const parts = [
    `step ${e.step}/${e.totalSteps}`,
    `loss ${formatLoss(e.loss)}`,
    `lr ${e.lr.toExponential(2)}`,
    `${formatCount(e.tokensPerSecond)} tok/s`,
    `ETA ${formatDuration(e.etaMs)}`,
  ]
  if (lastEval !== undefined) parts.push(`eval ${formatLoss(lastEval)}`)
  return parts.join(' · ')
}

export function startLine(e: Extract<FinetuneEvent, { type: 'start' }>): string {
  const resumed = e.startStep > 0 ? `, resuming after step ${e.startStep}` : ''
  const from = e.data.records !== e.examples ? ` from ${e.data.records} records` : ''
  return (
    `training ${e.totalSteps} steps (${e.method}, ${formatCount(e.trainableParameters)} trainable ` +
    `parameters, ${e.examples} examples${from}${resumed})`
  )
}

/** Skipped records named at most. */
const SKIPPED_SHOWN = 5

/** What seqLen did to the data, a line each (none when it changed nothing). */
export function dataLines(e: Extract<FinetuneEvent, { type: 'start' }>): string[] {
  const { windowed, truncated, skipped, seqLen } = e.data
  const lines: string[] = []
  const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`
  if (windowed > 0) lines.push(`${records(windowed)} of text cut into windows of ${seqLen} tokens`)
  if (truncated > 0) lines.push(`${records(truncated)} truncated to their first ${seqLen} tokens`)
  if (skipped.length > 0) {
    const named = skipped.slice(0, SKIPPED_SHOWN).map((s) => `${s.where} (${s.reason})`)
    const more = skipped.length > SKIPPED_SHOWN ? `, and ${skipped.length - SKIPPED_SHOWN} more` : ''
    lines.push(`${records(skipped.length)} left out: ${named.join(', ')}${more}`)
  }
  return lines
}

function bar(step: number, total: number, width = 20): string {
  const done = total > 0 ? Math.min(width, Math.round((step / total) * width)) : 0
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}]`
}

export interface FinetuneProgress {
  mode: FinetuneProgressMode
  onEvent(e: FinetuneEvent): void
  /** A line for people (text modes only), kept above the progress line. */
  note(line: string): void
  /** Ends the progress line. */
  end(): void
}

export function finetuneProgress(opts: FinetuneProgressOptions, io: CliIo = cliIo()): FinetuneProgress {
  const mode = progressMode(opts, io)
  const now = opts.now ?? (() => performance.now())
  const interval = opts.lineIntervalMs ?? 10_000
  let lastEval: number | undefined
  let current = '' // the redrawn line on a terminal
  let lastLineAt = -Infinity
  const clear = '\r\u001B[K'
  const say = (line: string) => {
    if (mode === 'tty') io.stderr.write(`${clear}${line}\n${current}`)
    else if (mode === 'lines') io.stderr.write(`${line}\n`)
  }
  return {
    mode,
    note: say,
    onEvent(e) {
      if (mode === 'none') return
      if (mode === 'json') {
        io.stdout.write(`${JSON.stringify(jsonEvent(e))}\n`)
        return
      }
      if (e.type === 'start') for (const line of [startLine(e), ...dataLines(e)]) say(line)
      else if (e.type === 'eval') {
        lastEval = e.loss
        say(`step ${e.step}: eval loss ${formatLoss(e.loss)}`)
      } else if (e.type === 'save') say(`step ${e.step}: checkpoint saved in ${e.dir}`)
      else if (mode === 'tty') {
        current = `${bar(e.step, e.totalSteps)} ${stepLine(e, lastEval)}`
        io.stderr.write(`${clear}${current}`)
      } else {
        const t = now()
        // The first step shown (a resumed run starts past 1) and the last always get a line.
        const due = lastLineAt === -Infinity || e.step >= e.totalSteps || t - lastLineAt >= interval
        if (!due) return
        lastLineAt = t
        io.stderr.write(`${stepLine(e, lastEval)}\n`)
      }
    },
    end() {
      if (mode === 'tty' && current) io.stderr.write('\n')
      current = ''
    },
  }
}
