// What `kiln finetune` does between parsing flags and printing: resolve MODEL (the default model, a
// folder, a GGUF file or a repo id fetched through the cache) and pass the Hub settings on for a
// dataset id as DATA, train with progress on stderr (or JSON
// event lines with --json), stop cleanly on Ctrl-C, and return the run's report (printed by
// render.ts). The trainer is imported when it runs, so that loading the command stays cheap.
import { statSync } from 'node:fs'
import { defaultModelPath } from '../core/default-model.js'
import { FormatError } from '../core/errors.js'
import type { DownloadEvent } from '../core/hub/events.js'
import type { FinetuneEvent, FinetuneResult } from '../core/train/types.js'
import { fetchModel } from './fetch-model.js'
import type { ResolvedFinetune } from './finetune-options.js'
import { cliIo } from './io.js'
import { downloadProgress, type ProgressRenderer } from './progress/download-progress.js'
import { finetuneProgress, formatCount, formatDuration, formatLoss } from './progress/finetune-progress.js'
import type { Rendering } from './render.js'

export interface FinetuneInput extends ResolvedFinetune {
  json: boolean
  quiet: boolean
}

/** What `kiln finetune --json` prints last (after its event lines). */
export interface FinetuneReport {
  out: string
  method: FinetuneResult['method']
  steps: number
  final_loss: number
  eval_loss: number | null
  trainable_parameters: number
  tokens_per_second: number
  seconds: number
  metrics_file: string
  loss_curve_file: string
  /** Stopped by Ctrl-C before the planned steps were done (what was trained is saved). */
  stopped: boolean
}

export function finetuneReport(r: FinetuneResult, stopped = false): FinetuneReport {
  return {
    out: r.out,
    method: r.method,
    steps: r.steps,
    final_loss: r.finalLoss,
    eval_loss: r.evalLoss ?? null,
    trainable_parameters: r.trainableParameters,
    tokens_per_second: Math.round(r.tokensPerSecond * 10) / 10,
    seconds: Math.round(r.elapsedMs / 10) / 100,
    metrics_file: r.metricsFile,
    loss_curve_file: r.lossCurveFile,
    stopped,
  }
}

export async function runFinetune(input: FinetuneInput): Promise<FinetuneReport> {
  const model =
    input.options.model === undefined ? defaultModelPath() : await fetchModel(input.options.model, input.hub)
  if (!statSync(model, { throwIfNoEntry: false }))
    throw new FormatError(`${model}: no such model folder or file`)
  const progress = finetuneProgress(input)
  const controller = new AbortController()
  // The first Ctrl-C asks the trainer to stop after its current step and save; `once` leaves the
  // second one to Node's default, which ends the process at once (exit 130).
  const stop = () => {
    progress.note('stopping after this step and saving (Ctrl-C again to quit now)')
    controller.abort()
  }
  process.once('SIGINT', stop)
  const onEvent = (e: FinetuneEvent) => progress.onEvent(e)
  // DATA or --eval as a Hub dataset id: its download's progress on stderr, as for MODEL.
  const download = datasetProgress(input.quiet)
  const hubData = { hub: input.hub, onDownload: download.onEvent }
  try {
    let result: FinetuneResult
    if (input.launcher === 'accelerate') {
      // The launcher's own lines (Python's warnings, a traceback) go to stderr, above the progress;
      // with --json stdout carries kiln's events alone.
      const { finetuneAccelerate } = await import('../core/train/accelerate/index.js')
      const io = cliIo()
      const onOutput = (line: string) => {
        if (input.quiet) return
        if (progress.mode === 'json') io.stderr.write(`${line}\n`)
        else progress.note(line)
      }
      result = await finetuneAccelerate({ ...input.options, model, ...hubData }, onEvent, controller.signal, {
        onOutput,
      })
    } else {
      const { finetune } = await import('../core/train/finetune.js')
      result = await finetune({ ...input.options, model, ...hubData }, onEvent, controller.signal)
    }
    return finetuneReport(result, controller.signal.aborted)
  } finally {
    process.off('SIGINT', stop)
    download.stop()
    progress.end()
  }
}

/** A download display per fetch (DATA's, then --eval's), made on its first event and closed by its last. */
function datasetProgress(quiet: boolean): ProgressRenderer {
  let current: ProgressRenderer | undefined
  const stop = () => {
    current?.stop()
    current = undefined
  }
  return {
    onEvent(e: DownloadEvent) {
      current ??= downloadProgress({ quiet })
      current.onEvent(e)
      if (e.type === 'done' || e.type === 'warning') stop()
    },
    stop,
  }
}

export const finetuneRendering: Rendering<FinetuneReport> = {
  // The event lines came first (finetune-progress.ts); the report closes the stream as an event too.
  jsonLines: (r) => [{ event: 'done', ...r }],
  text(r, { quiet }) {
    if (quiet) return { out: `${r.out}\n` }
    const evalLoss = r.eval_loss === null ? '' : ` · eval loss ${formatLoss(r.eval_loss)}`
    const what = r.method === 'lora' ? 'LoRA adapter' : 'model'
    const err =
      `${r.stopped ? 'stopped early: ' : ''}${what} trained for ${r.steps} steps in ` +
      `${formatDuration(r.seconds * 1000)} (${formatCount(r.trainable_parameters)} trainable parameters, ` +
      `${formatCount(r.tokens_per_second)} tok/s)\n` +
      `final loss ${formatLoss(r.final_loss)}${evalLoss}\n` +
      `metrics ${r.metrics_file} · loss curve ${r.loss_curve_file}\n`
    return { out: `${r.out}\n`, err }
  },
}
