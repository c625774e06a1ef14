// A tiny training run's data and its loss curve, for tests that compare two ways of training
// (checkpointing, the chunked loss) by the losses finetune() records.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { readMetrics } from '../../../src/core/train/report/metrics-file.js'

/** Two short text records as JSONL in `dir`; returns the file. */
export function tinyTextData(dir: string): string {
  const data = path.join(dir, 'train.jsonl')
  writeFileSync(
    data,
    ['A small model learns.', 'Every commit records who changed what.']
      .map((text) => JSON.stringify({ text }))
      .join('\n'),
  )
  return data
}

/** The step losses a run's metrics.jsonl records, in order. */
export function stepLosses(metricsFile: string): number[] {
  return readMetrics(metricsFile)
    .filter((m) => m.type === 'step')
    .map((m) => m.loss as number)
}
