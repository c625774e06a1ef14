// metrics.jsonl: the record of a training run, one JSON line per step and per eval, appended as the
// run goes so that a run killed at any moment keeps every line it had written. A resumed run first
// drops the lines past the step its checkpoint holds, so the file never tells two stories.
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs'
import { writeAll, writeFileAtomic } from '../../util/files.js'
import type { FinetuneEvent } from '../types.js'

/** The events metrics.jsonl keeps (start and save say nothing about the curve). */
export type StepRecord = Extract<FinetuneEvent, { type: 'step' }>
export type EvalRecord = Extract<FinetuneEvent, { type: 'eval' }>
export type MetricsRecord = StepRecord | EvalRecord

export interface MetricsFile {
  readonly path: string
  /** Appends the event's line when it is a step or an eval; other events are ignored. */
  write(event: FinetuneEvent): void
  /** Makes what was written durable and closes the file. Safe to call twice. */
  close(): void
}

export interface OpenMetricsOptions {
  /**
   * Continue a resumed run: keep the records up to and including this step and drop the rest
   * (they were computed after the checkpoint the run goes back to). Absent: start a new file.
   */
  keepThroughStep?: number
}

/** The record an event becomes in metrics.jsonl, or undefined for events it does not keep. */
export function metricsRecord(event: FinetuneEvent): MetricsRecord | undefined {
  return event.type === 'step' || event.type === 'eval' ? event : undefined
}

/**
 * Opens `path` for a run's records. A new run replaces the file (atomically, empty); a resumed run
 * rewrites it (atomically) without the lines past `keepThroughStep`, then appends.
 */
export function openMetricsFile(path: string, opts: OpenMetricsOptions = {}): MetricsFile {
  const kept = opts.keepThroughStep === undefined ? [] : readMetrics(path)
  const lines = kept.filter((r) => r.step <= (opts.keepThroughStep ?? 0)).map(lineOf)
  writeFileAtomic(path, (fd) => writeAll(fd, Buffer.from(lines.join(''), 'utf8')))
  let fd: number | undefined = openSync(path, 'a')
  return {
    path,
    write(event) {
      const record = metricsRecord(event)
      if (!record || fd === undefined) return
      // One write per line, straight to the kernel: a process killed after it loses nothing (an
      // fsync per step would cost more than the step on a small model; close() does the one fsync).
      writeAll(fd, Buffer.from(lineOf(record), 'utf8'))
    },
    close() {
      if (fd === undefined) return
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
        fd = undefined
      }
    },
  }
}

/**
 * The records of a metrics.jsonl, in file order. A missing file has none. Lines that are not a
 * whole record (the half line a full disk or a power cut can leave) are skipped: the file is a log,
 * and what it holds before such a line is still good.
 */
export function readMetrics(path: string): MetricsRecord[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
  const out: MetricsRecord[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      continue
    }
    if (isRecord(value)) out.push(value)
  }
  return out
}

function isRecord(v: unknown): v is MetricsRecord {
  if (typeof v !== 'object' || v === null) return false
  const r = v as { type?: unknown; step?: unknown }
  return (r.type === 'step' || r.type === 'eval') && typeof r.step === 'number'
}

/** One line. JSON has no NaN or Infinity: JSON.stringify writes a diverged loss as null. */
function lineOf(record: MetricsRecord): string {
  return `${JSON.stringify(record)}\n`
}
