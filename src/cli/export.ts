// What `kiln export --format gguf` does: convert, report progress on stderr, print the result.
import { exportGguf } from './export/to-gguf.js'
import type { HubSettings, Output } from './generate-command.js'
import { isHubModelArg, resolveModelArg } from './hub/model-arg.js'
import { tensorProgress } from './util/tensor-progress.js'

export interface ExportInput {
  model: string
  output: string
  dtype: 'f32' | 'f16' | 'bf16'
  force: boolean
  json: boolean
  quiet: boolean
  hub?: HubSettings
}

export function runExport(input: ExportInput, io: Output): void | Promise<void> {
  // A repo id is fetched first (asynchronously); a local folder stays synchronous as before.
  if (isHubModelArg(input.model))
    return resolveModelArg(input.model, input.hub, io).then((model) => runExport({ ...input, model }, io))
  const tty = process.stderr.isTTY === true && !input.json && !input.quiet
  const progress = tensorProgress(io, { tty, quiet: input.quiet })
  const result = exportGguf(input.model, input.output, { dtype: input.dtype, force: input.force }, (ev) =>
    progress.onEvent(ev),
  )
  progress.end()
  if (input.json) {
    io.out(
      `${JSON.stringify({
        output: result.path,
        format: 'gguf',
        dtype: input.dtype,
        architecture: result.architecture,
        tensors: result.tensors,
        bytes_out: result.bytes,
        warnings: result.warnings,
      })}\n`,
    )
  } else {
    io.out(`${result.path}\n`)
    if (!input.quiet)
      io.err(
        `wrote ${result.tensors} tensors, ${(result.bytes / 1e6).toFixed(1)} MB (${result.architecture}, ${input.dtype})\n`,
      )
  }
}
