// What `kiln export` does: fetch MODEL if it is a repo id, convert with progress on stderr, and
// return what was written (render.ts prints the path, a summary, or JSON). The exporters are
// imported when they run, so that loading the command to parse its flags stays cheap.
import { option, UsageError } from '../core/errors.js'
import type { OnnxValidation } from '../core/export/onnx/validate.js'
import type { HubOptions } from '../core/hub/config.js'
import { fetchAdapter, fetchModel } from './fetch-model.js'
import { cliIo } from './io.js'
import { tensorProgress } from './progress/tensor-progress.js'
import type { Rendering } from './render.js'

export const GGUF_DTYPES = ['f32', 'f16', 'bf16'] as const
// core/export/onnx/plan.ts's ONNX_DTYPES (not imported: the command's flags load without the exporter)
export const ONNX_DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4'] as const

export interface ExportInput {
  model: string
  format: 'gguf' | 'onnx'
  output: string
  /** Default: f16 for GGUF, fp32 for ONNX. */
  dtype?: string
  force: boolean
  json: boolean
  quiet: boolean
  hub?: HubOptions
  /** A PEFT LoRA adapter (folder or repo id) merged into MODEL before it is exported. */
  adapter?: string
  /** ONNX: opset, validation in ONNX Runtime and its tolerance. */
  opset?: number
  task?: string
  optimize?: string
  validate?: boolean
  atol?: number
  version?: string
}

/** What `kiln export --json` prints. */
export interface ExportReport {
  output: string
  format: 'gguf' | 'onnx'
  dtype: string
  architecture: string
  /** GGUF: tensors written. */
  tensors?: number
  /** ONNX: files of the folder, its opset and graph size, and validation's result. */
  files?: string[]
  opset?: number
  task?: string
  optimize?: string
  nodes?: number
  validation?: OnnxValidation
  bytes_out: number
  warnings: string[]
}

export async function runExport(input: ExportInput): Promise<ExportReport> {
  const dtypes: readonly string[] = input.format === 'onnx' ? ONNX_DTYPES : GGUF_DTYPES
  const dtype = input.dtype ?? (input.format === 'onnx' ? 'fp32' : 'f16')
  if (!dtypes.includes(dtype))
    throw new UsageError(
      `${option('dtype')} ${dtype} is not one of --format ${input.format}'s (${dtypes.join(', ')})`,
    )
  if (input.format === 'gguf') {
    const onnxOnly = {
      opset: input.opset,
      task: input.task,
      atol: input.atol,
      validate: input.validate === false || undefined,
    }
    for (const [name, v] of Object.entries(onnxOnly))
      if (v !== undefined) throw new UsageError(`${option(name)} applies to --format onnx only`)
  }
  const model = await fetchModel(input.model, input.hub)
  if (input.adapter === undefined) return exportFrom(model, dtype, input)
  const adapter = await fetchAdapter(input.adapter, input.hub)
  const { mergeAdapterBeside } = await import('../core/export/merged-base.js')
  const merged = mergeAdapterBeside(input.output, model, adapter)
  try {
    return await exportFrom(merged.path, dtype, input)
  } finally {
    merged.dispose()
  }
}

function exportFrom(model: string, dtype: string, input: ExportInput): Promise<ExportReport> {
  return input.format === 'onnx' ? exportOnnxFolder(model, dtype, input) : exportGgufFile(model, dtype, input)
}

async function exportGgufFile(model: string, dtype: string, input: ExportInput): Promise<ExportReport> {
  const { exportGguf } = await import('../core/export/to-gguf.js')
  const progress = tensorProgress(input)
  const result = exportGguf(
    model,
    input.output,
    { dtype: dtype as 'f32' | 'f16' | 'bf16', force: input.force },
    (ev) => progress.onEvent(ev),
  )
  progress.end()
  return {
    output: result.path,
    format: 'gguf',
    dtype,
    architecture: result.architecture,
    tensors: result.tensors,
    bytes_out: result.bytes,
    warnings: result.warnings,
  }
}

async function exportOnnxFolder(model: string, dtype: string, input: ExportInput): Promise<ExportReport> {
  const { exportOnnx, ONNX_TASKS } = await import('../core/export/to-onnx.js')
  const task = input.task as (typeof ONNX_TASKS)[number] | undefined
  if (task !== undefined && !ONNX_TASKS.includes(task))
    throw new UsageError(`${option('task')} ${input.task} is not an ONNX task (${ONNX_TASKS.join(', ')})`)
  const stderr = cliIo().stderr
  const say = (line: string) => {
    if (!input.quiet && !input.json) stderr.write(`${line}\n`)
  }
  const result = await exportOnnx(
    model,
    input.output,
    {
      dtype: dtype as (typeof ONNX_DTYPES)[number],
      force: input.force,
      opset: input.opset,
      task,
      optimize: input.optimize as 'none' | 'ort' | undefined,
      validate: input.validate,
      atol: input.atol,
      version: input.version,
    },
    (ev) => {
      if (ev.type === 'warning' && !input.quiet) stderr.write(`kiln: warning: ${ev.message}\n`)
      else if (ev.type === 'written') say(`wrote ${ev.files.length} files, ${(ev.bytes / 1e6).toFixed(1)} MB`)
      else if (ev.type === 'validated') {
        const v = ev.validation
        const ran = v.decodeSteps
          ? `${v.promptTokens} prompt tokens + ${v.decodeSteps} decode steps`
          : `a padded batch of ${v.promptTokens} tokens`
        say(`validated in ONNX Runtime: ${ran}, max |Δ| ${v.maxAbsDiff.toExponential(2)} (atol ${v.atol})`)
      }
    },
  )
  return {
    output: result.dir,
    format: 'onnx',
    dtype,
    architecture: result.architecture,
    files: result.files,
    opset: result.opset,
    task: result.task,
    optimize: result.optimize,
    nodes: result.nodes,
    validation: result.validation,
    bytes_out: result.bytes,
    warnings: result.warnings,
  }
}

export const exportRendering: Rendering<ExportReport> = {
  text: (r, { quiet }) => ({
    out: `${r.output}\n`,
    err:
      quiet || r.format === 'onnx'
        ? undefined
        : `wrote ${r.tensors} tensors, ${(r.bytes_out / 1e6).toFixed(1)} MB (${r.architecture}, ${r.dtype})\n`,
  }),
}
