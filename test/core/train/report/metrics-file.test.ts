// metrics.jsonl: a line per step and per eval, on disk as soon as it is written (a killed run keeps
// it), and a resumed run drops what came after its checkpoint.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openMetricsFile, readMetrics } from '../../../../src/core/train/report/metrics-file.js'
import type { FinetuneEvent } from '../../../../src/core/train/types.js'
import { makeTempDir, removeTempDirs } from '../../../helpers/cli.js'

afterAll(removeTempDirs)

const step = (n: number, loss = 2 - n / 10): FinetuneEvent => ({
  type: 'step',
  step: n,
  totalSteps: 10,
  loss,
  lr: 1e-4,
  gradNorm: 0.5,
  tokens: 64,
  tokensPerSecond: 1000,
  elapsedMs: n * 100,
  etaMs: (10 - n) * 100,
})
const evalAt = (n: number, loss: number): FinetuneEvent => ({ type: 'eval', step: n, loss })

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)

describe('metrics.jsonl', () => {
  it('has one JSON line per step and eval, readable before close (nothing buffered)', () => {
    const file = path.join(makeTempDir('kiln-metrics-'), 'metrics.jsonl')
    const m = openMetricsFile(file)
    m.write({
      type: 'start',
      method: 'lora',
      totalSteps: 10,
      trainableParameters: 5,
      examples: 3,
      startStep: 0,
      data: { records: 3, windowed: 0, truncated: 0, seqLen: 512, skipped: [] },
    })
    m.write(step(1))
    m.write(step(2))
    m.write(evalAt(2, 1.9))
    m.write({ type: 'save', step: 2, dir: 'x' })
    // Not closed yet, as in a run killed now: every line is already in the file.
    expect(lines(file).map((l) => JSON.parse(l).type)).toEqual(['step', 'step', 'eval'])
    m.close()
    m.close() // twice is harmless
    m.write(step(3)) // after close: ignored, not a crash
    const records = readMetrics(file)
    expect(records).toHaveLength(3)
    expect(records[0]).toEqual(step(1))
    expect(records[2]).toEqual({ type: 'eval', step: 2, loss: 1.9 })
  })

  it('writes a diverged loss as null, keeping the line valid JSON', () => {
    const file = path.join(makeTempDir('kiln-metrics-'), 'metrics.jsonl')
    const m = openMetricsFile(file)
    m.write(step(1, Number.NaN))
    m.write(step(2, Number.POSITIVE_INFINITY))
    m.close()
    for (const l of lines(file)) expect(JSON.parse(l).loss).toBeNull()
  })

  it('a new run replaces an old file; a resumed one keeps the lines up to its step', () => {
    const dir = makeTempDir('kiln-metrics-')
    const file = path.join(dir, 'metrics.jsonl')
    const first = openMetricsFile(file)
    for (let n = 1; n <= 6; n++) first.write(step(n))
    first.write(evalAt(4, 1.5))
    first.write(evalAt(6, 1.4))
    first.close()
    // A killed writer's torn last line (a full disk) is dropped, not fatal.
    appendFileSync(file, '{"type":"step","ste')

    const resumed = openMetricsFile(file, { keepThroughStep: 4 })
    expect(readMetrics(file).map((r) => `${r.type}${r.step}`)).toEqual([
      'step1',
      'step2',
      'step3',
      'step4',
      'eval4',
    ])
    resumed.write(step(5, 0.1))
    resumed.close()
    const records = readMetrics(file)
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4, 4, 5])
    expect(records.at(-1)?.loss).toBe(0.1)
    expect(lines(file).every((l) => JSON.parse(l))).toBe(true)

    openMetricsFile(file).close()
    expect(readFileSync(file, 'utf8')).toBe('')
    expect(readdirSync(dir)).toEqual(['metrics.jsonl']) // no temporary left behind
  })

  it('resuming without a file starts an empty one; reading a missing file gives nothing', () => {
    const dir = makeTempDir('kiln-metrics-')
    expect(readMetrics(path.join(dir, 'none.jsonl'))).toEqual([])
    const m = openMetricsFile(path.join(dir, 'metrics.jsonl'), { keepThroughStep: 3 })
    m.write(step(4))
    m.close()
    expect(readMetrics(path.join(dir, 'metrics.jsonl')).map((r) => r.step)).toEqual([4])
  })
})
