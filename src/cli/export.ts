// What `kiln export --format gguf` does: fetch MODEL if it is a repo id, convert with progress on
// stderr, and return what was written (render.ts prints the path, a summary, or JSON). The exporter
// is imported when it runs, so that loading the command to parse its flags stays cheap.
import type { HubOptions } from '../core/hub/config.js'
import { fetchModel } from './fetch-model.js'
import { tensorProgress } from './progress/tensor-progress.js'
import type { Rendering } from './render.js'

export interface ExportInput {
  model: string
  output: string
  dtype: 'f32' | 'f16' | 'bf16'
  force: boolean
  json: boolean
  quiet: boolean
  hub?: HubOptions
}

/** What `kiln export --json` prints. */
export interface ExportReport {
  output: string
  format: 'gguf'
  dtype: ExportInput['dtype']
  architecture: string
  tensors: number
  bytes_out: number
  warnings: string[]
}

export async function runExport(input: ExportInput): Promise<ExportReport> {
  const model = await fetchModel(input.model, input.hub)
  const { exportGguf } = await import('../core/export/to-gguf.js')
  const progress = tensorProgress(input)
  const result = exportGguf(model, input.output, { dtype: input.dtype, force: input.force }, (ev) =>
    progress.onEvent(ev),
  )
  progress.end()
  return {
    output: result.path,
    format: 'gguf',
    dtype: input.dtype,
    architecture: result.architecture,
    tensors: result.tensors,
    bytes_out: result.bytes,
    warnings: result.warnings,
  }
}

export const exportRendering: Rendering<ExportReport> = {
  text: (r, { quiet }) => ({
    out: `${r.output}\n`,
    err: quiet
      ? undefined
      : `wrote ${r.tensors} tensors, ${(r.bytes_out / 1e6).toFixed(1)} MB (${r.architecture}, ${r.dtype})\n`,
  }),
}
