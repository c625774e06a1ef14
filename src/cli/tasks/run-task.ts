// The loop every task command shares: resolve MODEL, load the encoder, stream the texts through
// the task in batches, write each text's result to stdout as its batch finishes (a line of text,
// or a JSON line with --json), and return a summary (render.ts prints it on stderr). The engine is
// imported when the command runs, so that loading the command to parse its flags stays cheap.
import { UsageError } from '../../core/errors.js'
import type { HubOptions } from '../../core/hub/config.js'
import type { EncoderModel } from '../../core/runtime/encoder.js'
import { fetchModel } from '../fetch-model.js'
import { cliIo } from '../io.js'
import type { Rendering } from '../render.js'
import { itemProgress } from './item-progress.js'
import { inBatches, openTexts, type TextInput, type TextSource } from './text-inputs.js'

export interface TaskInput extends TextSource {
  model: string
  batchSize?: number
  threads?: number
  hub?: HubOptions
  json: boolean
  quiet: boolean
}

/** What a task command returns once every text is done. */
export interface TaskSummary {
  model: string
  texts: number
  seconds: number
}

/** A task over one batch: a result per text, and how each prints. */
export interface TaskRun<R> {
  run(texts: string[]): Promise<R[]>
  text(result: R, input: TextInput): string
  /** The result's JSON line; undefined writes none (the result went elsewhere, as embed's file). */
  json(result: R, input: TextInput): unknown
}

export const DEFAULT_BATCH = 32

export async function runTextTask<R>(
  input: TaskInput,
  make: (model: EncoderModel) => TaskRun<R>,
): Promise<TaskSummary> {
  const batchSize = input.batchSize ?? DEFAULT_BATCH
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UsageError(`--batch-size must be an integer ≥ 1 (got ${batchSize})`)
  const texts = openTexts(input) // bad --file or no text: refused before the model loads
  const dir = await fetchModel(input.model, input.hub)
  const { loadEncoder } = await import('../../core/runtime/encoder.js')
  const model = loadEncoder(dir, { threads: input.threads })
  const t0 = performance.now()
  const progress = itemProgress({ ...input, totalBytes: texts.totalBytes })
  const out = cliIo().stdout
  let done = 0
  try {
    const task = make(model)
    for await (const batch of inBatches(texts.items, batchSize)) {
      const results = await task.run(batch.map((b) => b.text))
      let chunk = ''
      results.forEach((r, i) => {
        if (!input.json) chunk += task.text(r, batch[i])
        else {
          const line = task.json(r, batch[i])
          if (line !== undefined) chunk += `${JSON.stringify(line)}\n`
        }
      })
      out.write(chunk)
      done += batch.length
      progress.update(done, texts.bytesRead)
    }
  } finally {
    progress.end()
    model.dispose()
  }
  return { model: dir, texts: done, seconds: (performance.now() - t0) / 1000 }
}

/** Results went to stdout as they came; the summary is a line for people on stderr. */
export const taskRendering: Rendering<TaskSummary> = {
  text: (r, { quiet }) =>
    quiet ? {} : { err: `${r.texts} text${r.texts === 1 ? '' : 's'} in ${r.seconds.toFixed(2)} s\n` },
  jsonLines: () => [],
}
