// Exports a model (a decoder: llama, mistral, qwen2, gpt2, from a folder or a GGUF file; an encoder:
// bert, roberta, xlm-roberta, distilbert) as an ONNX model folder in the layout transformers.js
// and optimum use: config.json, generation_config.json and the tokenizer files beside
// onnx/model.onnx. The graph is kiln's own (the family's builder over GraphBuilder, as the engine
// runs it), written op by op (onnx/plan.ts). The folder appears under its name complete or not at all: it is
// written under a temporary name beside it, then renamed.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { option, UsageError } from '../errors.js'
import { writeFolderAtomic } from '../util/folder-write.js'
import { genaiConfig } from './onnx/genai-config.js'
import { ONNX_DTYPE_FORMATS, type OnnxExportDType, type OnnxTask, planOnnx } from './onnx/plan.js'
import { loadOnnxRuntime, type OnnxValidation, OnnxValidationError } from './onnx/validate.js'
import { writeOnnxModel } from './onnx/write-model.js'

export { ONNX_DTYPES, ONNX_TASKS, type OnnxExportDType, type OnnxTask } from './onnx/plan.js'

/** Opset 21 (ONNX 1.16): all the standard ops the graphs use, implemented by ONNX Runtime ≥ 1.20. */
export const DEFAULT_OPSET = 21
const MIN_OPSET = 21

export interface ExportOnnxOptions {
  dtype?: OnnxExportDType
  opset?: number
  /** Replace an existing output folder. */
  force?: boolean
  /** Run the written model in ONNX Runtime against kiln (default true; needs onnxruntime-node). */
  validate?: boolean
  /**
   * Largest |ONNX − kiln| output difference validation accepts (default per dtype: 1e-4 for fp32;
   * at least q8's 0.25 from a GGUF with block-quantized weights, which kiln runs on 8-bit activations).
   */
  atol?: number
  /**
   * none (default): standard ONNX operators, which every runtime loads; ort: ONNX Runtime's fused
   * operators (GroupQueryAttention with rotary, SkipSimplifiedLayerNormalization, MatMulNBits for
   * q4) as ONNX Runtime GenAI's model builder writes them, plus genai_config.json (decoders).
   */
  optimize?: 'none' | 'ort'
  /** What the graph computes; default: text-generation-with-past for a decoder, the head's task for an encoder. */
  task?: OnnxTask
  /** kiln's version, recorded as the model's producer_version. */
  version?: string
}

export type ExportOnnxEvent =
  | { type: 'graph'; nodes: number; initializers: number }
  | { type: 'written'; files: string[]; bytes: number }
  | { type: 'validated'; validation: OnnxValidation }
  | { type: 'warning'; message: string }

export interface ExportOnnxResult {
  dir: string
  /** Files written, relative to dir. */
  files: string[]
  bytes: number
  architecture: string
  task: OnnxTask
  dtype: OnnxExportDType
  opset: number
  optimize: 'none' | 'ort'
  nodes: number
  validation?: OnnxValidation
  warnings: string[]
}

export async function exportOnnx(
  modelPath: string,
  outDir: string,
  opts: ExportOnnxOptions = {},
  onEvent: (e: ExportOnnxEvent) => void = () => {},
): Promise<ExportOnnxResult> {
  const dtype = opts.dtype ?? 'fp32'
  const opset = opts.opset ?? DEFAULT_OPSET
  if (!Number.isInteger(opset) || opset < MIN_OPSET)
    throw new UsageError(`${option('opset')} must be an integer ≥ ${MIN_OPSET}, got ${opset}`)
  const spec = Object.hasOwn(ONNX_DTYPE_FORMATS, dtype) ? ONNX_DTYPE_FORMATS[dtype] : undefined
  if (!spec)
    throw new UsageError(
      `${option('dtype')} ${dtype} is not an ONNX dtype (${Object.keys(ONNX_DTYPE_FORMATS).join(', ')})`,
    )
  if (opts.atol !== undefined && !(opts.atol > 0)) throw new UsageError(`${option('atol')} must be > 0`)
  const dir = nodePath.resolve(outDir)
  if (existsSync(dir) && !opts.force)
    throw new UsageError(`${outDir} exists (pass ${option('force')} to replace it)`)

  const optimize = opts.optimize ?? 'none'
  if (optimize !== 'none' && optimize !== 'ort')
    throw new UsageError(`${option('optimize')} must be none or ort, got ${optimize}`)
  const fused = optimize === 'ort'
  if (fused && dtype !== 'fp32' && dtype !== 'q4')
    throw new UsageError(`${option('optimize')} ort writes fp32 or q4 (MatMulNBits), not ${dtype}`)
  const plan = planOnnx(modelPath, opts.task, { ...spec.format, fused }, dtype)
  const { graph } = plan
  const atol = opts.atol ?? Math.max(spec.atol, plan.minAtol)
  onEvent({ type: 'graph', nodes: graph.nodes.length, initializers: graph.initializers.length })
  const warnings: string[] = []
  for (const message of plan.warnings) {
    warnings.push(message)
    onEvent({ type: 'warning', message })
  }

  // Written under a temporary name beside DIR and renamed into place (util/folder-write.ts).
  const files = writeFolderAtomic(
    dir,
    (tmp) => {
      mkdirSync(nodePath.join(tmp, 'onnx'), { recursive: true })
      const written = writeOnnxModel(
        nodePath.join(tmp, 'onnx', spec.file),
        {
          ...graph,
          opset,
          ...(fused ? { domains: { 'com.microsoft': 1 } } : {}),
          graphName: `${plan.architecture}-${dtype}${fused ? '-ort' : ''}`,
          metadata: { 'kiln.task': plan.task, 'kiln.dtype': dtype, 'kiln.optimize': optimize },
        },
        opts.version ?? '0',
      )
      const names = written.map((f) => nodePath.relative(tmp, f))
      const external = names.some((f) => f.endsWith('_data'))
      names.push(...plan.writeSidecars(tmp, external))
      if (fused && plan.decoder) {
        // onnxruntime-genai reads the folder it is given: the config names the graph under onnx/.
        const genai = genaiConfig(plan.decoder, `onnx/${spec.file}`)
        writeFileSync(nodePath.join(tmp, 'genai_config.json'), `${JSON.stringify(genai, null, 2)}\n`)
        names.push('genai_config.json')
      }
      return names
    },
    { replace: opts.force ?? false },
  )
  const bytes = files.reduce((n, f) => n + statSize(nodePath.join(dir, f)), 0)
  onEvent({ type: 'written', files, bytes })

  const result: ExportOnnxResult = {
    dir,
    files,
    bytes,
    architecture: plan.architecture,
    task: plan.task,
    dtype,
    opset,
    optimize,
    nodes: graph.nodes.length,
    warnings,
  }
  if (opts.validate === false) return result
  const ort = await loadOnnxRuntime()
  if (!ort) {
    const message =
      'not validated: install onnxruntime-node (npm install onnxruntime-node@1.30.0) to run the export in ONNX Runtime'
    warnings.push(message)
    onEvent({ type: 'warning', message })
    return result
  }
  result.validation = await plan.validate(ort, nodePath.join(dir, 'onnx', spec.file), atol)
  onEvent({ type: 'validated', validation: result.validation })
  if (!result.validation.ok) {
    const v = result.validation
    throw new OnnxValidationError(
      `validation failed: outputs differ from kiln's by up to ${v.maxAbsDiff.toExponential(2)} (at ${v.worst}; ${option('atol')} ${atol}); the files are kept in ${dir}`,
      v,
    )
  }
  return result
}

function statSize(file: string): number {
  return statSync(file).size
}
