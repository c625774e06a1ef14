// How `kiln finetune` shows a run: a redrawn line on a terminal, a line every few seconds in a log,
// JSON lines with --json, nothing with --quiet; and its result as text and as JSON.
import { describe, expect, it } from 'vitest'
import { finetuneRendering, finetuneReport } from '../../src/cli/finetune.js'
import type { CliIo } from '../../src/cli/io.js'
import {
  finetuneProgress,
  formatDuration,
  jsonEvent,
  stepLine,
} from '../../src/cli/progress/finetune-progress.js'
import { renderResult } from '../../src/cli/render.js'
import type { FinetuneEvent, FinetuneResult } from '../../src/core/train/types.js'

function fakeIo(tty: boolean) {
  const out = { stdout: '', stderr: '' }
  const io: CliIo = {
    stdout: { write: (t) => (out.stdout += String(t)), isTTY: tty },
    stderr: { write: (t) => (out.stderr += String(t)), isTTY: tty },
    stdin: { isTTY: false, async *[Symbol.asyncIterator]() {} },
  }
  return { io, out }
}

const start: FinetuneEvent = {
  type: 'start',
  method: 'lora',
  totalSteps: 3,
  trainableParameters: 1_234_567,
  examples: 40,
  startStep: 0,
  data: { records: 40, windowed: 0, truncated: 0, seqLen: 512, skipped: [] },
}
const step = (n: number, loss = 2 / n): FinetuneEvent => ({
  type: 'step',
  step: n,
  totalSteps: 3,
  loss,
  lr: 2e-4,
  gradNorm: 0.7,
  tokens: 512,
  tokensPerSecond: 5432.1,
  elapsedMs: n * 1000,
  etaMs: (3 - n) * 65_000,
})
const RUN: FinetuneEvent[] = [
  start,
  step(1),
  step(2),
  { type: 'eval', step: 2, loss: 1.2345 },
  { type: 'save', step: 2, dir: '/out/checkpoint-2' },
  step(3),
]

const result: FinetuneResult = {
  out: '/work/qwen2-lora',
  method: 'lora',
  steps: 3,
  finalLoss: 0.66666,
  evalLoss: 1.2345,
  trainableParameters: 1_234_567,
  tokensPerSecond: 5432.123,
  elapsedMs: 3_210,
  metricsFile: '/work/qwen2-lora/metrics.jsonl',
  lossCurveFile: '/work/qwen2-lora/loss-curve.svg',
}

describe('finetune progress', () => {
  it('formats a step line with step/total, loss, lr, tokens/s, ETA and the last eval', () => {
    const e = step(2) as Extract<FinetuneEvent, { type: 'step' }>
    expect(stepLine(e)).toBe('step 2/3 · loss 1.0000 · lr 2.00e-4 · 5.4k tok/s · ETA 1m05s')
    expect(stepLine(e, 1.5)).toMatch(/· eval 1\.5000$/)
    expect(stepLine({ ...e, loss: Number.NaN })).toContain('loss nan')
    expect([formatDuration(42_000), formatDuration(3_725_000), formatDuration(Number.NaN)]).toEqual([
      '42s',
      '1h02m',
      '--',
    ])
  })

  it('redraws one line on a terminal, with evals and saves kept above it', () => {
    const { io, out } = fakeIo(true)
    const p = finetuneProgress({ json: false, quiet: false }, io)
    expect(p.mode).toBe(process.env.CI ? 'lines' : 'tty')
    if (p.mode !== 'tty') return
    for (const e of RUN) p.onEvent(e)
    p.end()
    expect(out.stdout).toBe('')
    expect(out.stderr).toContain('training 3 steps (lora, 1.2M trainable parameters, 40 examples)\n')
    expect(out.stderr).toContain('\r\u001B[Kstep 2: eval loss 1.2345\n')
    expect(out.stderr).toContain('step 2: checkpoint saved in /out/checkpoint-2\n')
    const frames = out.stderr.split('\r\u001B[K')
    expect(frames.at(-1)).toMatch(/^\[#{20}\] step 3\/3 · .* · eval 1\.2345\n$/)
    expect(out.stderr.endsWith('\n')).toBe(true)
  })

  it('prints plain lines when not a terminal: first and last step, then one per interval', () => {
    const { io, out } = fakeIo(false)
    let t = 0
    const p = finetuneProgress({ json: false, quiet: false, lineIntervalMs: 10_000, now: () => t }, io)
    expect(p.mode).toBe('lines')
    p.onEvent(start)
    for (let n = 1; n <= 3; n++) {
      t = n * 1000 // 1 s apart: only the first and the last step are due
      p.onEvent({ ...(step(n) as object), totalSteps: 3 } as FinetuneEvent)
    }
    p.onEvent({ type: 'eval', step: 3, loss: 0.5 })
    p.end()
    const lines = out.stderr.trimEnd().split('\n')
    expect(lines).toEqual([
      'training 3 steps (lora, 1.2M trainable parameters, 40 examples)',
      'step 1/3 · loss 2.0000 · lr 2.00e-4 · 5.4k tok/s · ETA 2m10s',
      'step 3/3 · loss 0.6667 · lr 2.00e-4 · 5.4k tok/s · ETA 0s',
      'step 3: eval loss 0.5000',
    ])
    expect(out.stderr).not.toMatch(/\r|\u001B/)
  })

  it('says what the sequence length did to the data: windows, truncations, records left out', () => {
    const { io, out } = fakeIo(false)
    const p = finetuneProgress({ json: false, quiet: false }, io)
    const skipped = Array.from({ length: 7 }, (_, i) => ({
      where: `chats.jsonl:${i + 1}`,
      reason: 'no token the loss counts within the first 512',
    }))
    p.onEvent({
      ...start,
      examples: 90,
      data: { records: 40, windowed: 3, truncated: 1, seqLen: 512, skipped },
    } as FinetuneEvent)
    p.end()
    expect(out.stderr.trimEnd().split('\n')).toEqual([
      'training 3 steps (lora, 1.2M trainable parameters, 90 examples from 40 records)',
      '3 records of text cut into windows of 512 tokens',
      '1 record truncated to their first 512 tokens',
      `7 records left out: ${skipped
        .slice(0, 5)
        .map((s) => `${s.where} (${s.reason})`)
        .join(', ')}, and 2 more`,
    ])
  })

  it('with --json prints one JSON line per event on stdout, snake_case', () => {
    const { io, out } = fakeIo(true)
    const p = finetuneProgress({ json: true, quiet: false }, io)
    for (const e of RUN) p.onEvent(e)
    p.note('not for JSON')
    p.end()
    expect(out.stderr).toBe('')
    const lines = out.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.map((l) => l.event)).toEqual(['start', 'step', 'step', 'eval', 'save', 'step'])
    expect(lines[1]).toEqual({
      event: 'step',
      step: 1,
      total_steps: 3,
      loss: 2,
      lr: 2e-4,
      grad_norm: 0.7,
      tokens: 512,
      tokens_per_second: 5432.1,
      elapsed_ms: 1000,
      eta_ms: 130_000,
    })
    expect(lines[3]).toEqual({ event: 'eval', step: 2, loss: 1.2345 })
    expect(jsonEvent(start)).toMatchObject({ event: 'start', total_steps: 3, start_step: 0, records: 40 })
  })

  it('with --quiet prints nothing', () => {
    const { io, out } = fakeIo(true)
    const p = finetuneProgress({ json: false, quiet: true }, io)
    for (const e of RUN) p.onEvent(e)
    p.note('stopping')
    p.end()
    expect(out).toEqual({ stdout: '', stderr: '' })
  })
})

describe('finetune result', () => {
  const context = { quiet: false, flags: {}, args: {} }

  it('reads as the output folder on stdout and a summary on stderr', () => {
    const { io, out } = fakeIo(false)
    expect(renderResult(finetuneReport(result), finetuneRendering, { ...context, json: false }, io)).toBe(0)
    expect(out.stdout).toBe('/work/qwen2-lora\n')
    expect(out.stderr).toBe(
      'LoRA adapter trained for 3 steps in 3s (1.2M trainable parameters, 5.4k tok/s)\n' +
        'final loss 0.6667 · eval loss 1.2345\n' +
        'metrics /work/qwen2-lora/metrics.jsonl · loss curve /work/qwen2-lora/loss-curve.svg\n',
    )
  })

  it('says when Ctrl-C stopped it, and leaves out an eval loss it does not have', () => {
    const r = finetuneReport({ ...result, method: 'full', evalLoss: undefined }, true)
    const text = finetuneRendering.text(r, context)
    expect(text.err).toMatch(/^stopped early: model trained for 3 steps/)
    expect(text.err).not.toContain('eval loss')
    expect(finetuneRendering.text(r, { ...context, quiet: true })).toEqual({ out: '/work/qwen2-lora\n' })
  })

  it('with --json is one line, the done event, snake_case', () => {
    const { io, out } = fakeIo(false)
    renderResult(finetuneReport(result), finetuneRendering, { ...context, json: true }, io)
    expect(out.stderr).toBe('')
    const lines = out.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0])).toEqual({
      event: 'done',
      out: '/work/qwen2-lora',
      method: 'lora',
      steps: 3,
      final_loss: 0.66666,
      eval_loss: 1.2345,
      trainable_parameters: 1_234_567,
      tokens_per_second: 5432.1,
      seconds: 3.21,
      metrics_file: '/work/qwen2-lora/metrics.jsonl',
      loss_curve_file: '/work/qwen2-lora/loss-curve.svg',
      stopped: false,
    })
    const none = finetuneReport({ ...result, evalLoss: undefined })
    expect(none.eval_loss).toBeNull()
  })
})
