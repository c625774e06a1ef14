// What an ONNX export of a model is: its task, its graph (translated from kiln's own graph of the
// model, built by the family's builder as the engine builds it), and how to check the written file
// against kiln. Decoders export with past for generation; encoders for their head's task or for
// feature extraction.
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { option, UsageError } from '../../errors.js'
import { openCheckpoint } from '../../formats/checkpoint.js'
import { openGguf } from '../../formats/gguf-read.js'
import type { EncoderConfig, ModelConfig } from '../../models/config.js'
import { decoderFamily, encoderFamily, parseAnyConfig, readConfigJson } from '../../models/registry.js'
import { MODEL_SIDECARS } from '../../models/sidecar-files.js'
import { HF_LAYOUT, WeightSet } from '../../models/weights.js'
import { loadEncoder } from '../../runtime/encoder.js'
import { GraphBuilder } from '../../runtime/graph-builder.js'
import { loadModel } from '../../runtime/model.js'
import { openModelSource } from '../../runtime/model-source.js'
import { refuseEscapingLinks } from '../../util/folder-links.js'
import { decoderGraphToOnnx } from './decoder-graph.js'
import { encoderGraphToOnnx } from './encoder-graph.js'
import { fusedDecoderGraphToOnnx } from './fused-decoder-graph.js'
import { dequantizedWarning, ggufExportWeights, writeGgufSidecars } from './gguf-source.js'
import type { OnnxGraph, WeightFormat } from './graph-ops.js'
import { valueInfoDims } from './proto.js'
import { type OnnxValidation, validateDecoder, validateEncoder } from './validate.js'

export const ONNX_TASKS = [
  'text-generation-with-past',
  'feature-extraction',
  'text-classification',
  'token-classification',
  'fill-mask',
] as const
export type OnnxTask = (typeof ONNX_TASKS)[number]

export const ONNX_DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4'] as const
export type OnnxExportDType = (typeof ONNX_DTYPES)[number]

/**
 * Per dtype: how weights are stored, the file name transformers.js looks for (its
 * DEFAULT_DTYPE_SUFFIX_MAPPING), and validation's default tolerance against kiln's float32 logits
 * (measured on the golden fixtures, with margin: see docs/export.md).
 */
export const ONNX_DTYPE_FORMATS: Record<
  OnnxExportDType,
  { format: WeightFormat; file: string; atol: number }
> = {
  fp32: { format: { float: 'float', matmul: 'float' }, file: 'model.onnx', atol: 1e-4 },
  fp16: { format: { float: 'float16', matmul: 'float' }, file: 'model_fp16.onnx', atol: 1e-2 },
  // q8 is transformers.js's "quantized": unsigned 8-bit weights, the same bytes as uint8
  q8: { format: { float: 'float', matmul: 'uint8' }, file: 'model_quantized.onnx', atol: 0.25 },
  int8: { format: { float: 'float', matmul: 'int8' }, file: 'model_int8.onnx', atol: 0.25 },
  uint8: { format: { float: 'float', matmul: 'uint8' }, file: 'model_uint8.onnx', atol: 0.25 },
  q4: { format: { float: 'float', matmul: 'int4' }, file: 'model_q4.onnx', atol: 1 },
}

export interface OnnxPlan {
  task: OnnxTask
  /** A decoder's config (genai_config.json is written from it). */
  decoder?: ModelConfig
  architecture: string
  /** The folder or GGUF file exported. */
  source: string
  graph: OnnxGraph
  /** What the export changed on the way (a GGUF's dequantized tensors). */
  warnings: string[]
  /**
   * The smallest default tolerance validation may use: a GGUF with block-quantized weights runs in
   * kiln with its activations rounded to 8 bits (ggml's Q8_0 / Q8_K dot products), the export in
   * float, so they differ by that rounding as a q8 export does.
   */
  minAtol: number
  /**
   * Writes config.json (announcing external data to transformers.js when `external`), the
   * generation config and the tokenizer files into `dst`; returns their names. A folder's are
   * copied; a GGUF file's are rebuilt from its metadata.
   */
  writeSidecars(dst: string, external: boolean): string[]
  /** Runs the written file in ONNX Runtime and compares it with kiln. */
  validate(ort: unknown, file: string, atol: number): Promise<OnnxValidation>
}

/** The sample validation runs (its tokens under the model's own tokenizer). */
const SAMPLE_TEXT = 'The quick brown fox jumps over the lazy dog. 1234 ünïcødé'
const SAMPLE_PAIR = ['A short one.', 'A longer sentence, so the batch needs padding: 42 ÿ.']

/** The head's task of an encoder config: what `--task` defaults to. */
const HEAD_TASKS: Record<EncoderConfig['head'], OnnxTask> = {
  base: 'feature-extraction',
  'sequence-classification': 'text-classification',
  'token-classification': 'token-classification',
  'masked-lm': 'fill-mask',
}

/** `dtype` names the export's dtype in messages. */
export function planOnnx(
  modelPath: string,
  task: OnnxTask | undefined,
  format: WeightFormat,
  dtype = 'fp32',
): OnnxPlan {
  const folder = existsSync(modelPath) && statSync(modelPath).isDirectory()
  if (folder && existsSync(nodePath.join(modelPath, 'config.json'))) {
    refuseEscapingLinks(modelPath)
    const { json, file } = readConfigJson(modelPath)
    const parsed = parseAnyConfig(json, file)
    if (parsed.kind === 'encoder') return encoderPlan(modelPath, parsed.config, task, format)
  }
  return decoderPlan(modelPath, task, format, dtype)
}

/** What config.json says of a model whose weights are in onnx/model.onnx_data (transformers.js). */
const EXTERNAL_DATA = { 'transformers.js_config': { use_external_data_format: true } }

/** Copies a folder's config, tokenizer and generation files; config.json announces external data. */
function copySidecars(src: string, dst: string, external: boolean): string[] {
  const out = ['config.json']
  const config = JSON.parse(readFileSync(nodePath.join(src, 'config.json'), 'utf8'))
  if (external)
    config['transformers.js_config'] = {
      ...config['transformers.js_config'],
      ...EXTERNAL_DATA['transformers.js_config'],
    }
  writeFileSync(nodePath.join(dst, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
  for (const f of MODEL_SIDECARS) {
    if (!existsSync(nodePath.join(src, f))) continue
    copyFileSync(nodePath.join(src, f), nodePath.join(dst, f))
    out.push(f)
  }
  return out
}

function refuseTask(task: OnnxTask, what: string, allowed: readonly OnnxTask[]): never {
  throw new UsageError(`${option('task')} ${task} does not fit ${what} (${allowed.join(', ')})`)
}

function decoderPlan(
  modelPath: string,
  task: OnnxTask | undefined,
  format: WeightFormat,
  dtype: string,
): OnnxPlan {
  const source = openModelSource(modelPath)
  const cfg = source.config
  if (task && task !== 'text-generation-with-past')
    refuseTask(task, `a ${cfg.architecture} decoder`, ['text-generation-with-past'])
  const warnings: string[] = []
  let minAtol = 0
  let { weights, layout } = source
  let writeSidecars = (dst: string, external: boolean) => copySidecars(source.path, dst, external)
  if (source.format === 'gguf') {
    // Block types dequantized, q/k rows in transformers' order: the graph a folder export writes.
    const gguf = ggufExportWeights(source)
    ;({ weights, layout } = gguf)
    const warning = dequantizedWarning(source.path, gguf.dequantized, dtype)
    if (warning) {
      warnings.push(warning)
      minAtol = ONNX_DTYPE_FORMATS.q8.atol
    }
    writeSidecars = (dst, external) =>
      writeGgufSidecars(source, openGguf(source.path), dst, external ? EXTERNAL_DATA : {})
  }
  const g = new GraphBuilder({ maxRows: 1, maxOutRows: 1, contextLength: 16, slots: 1 })
  const w = new WeightSet(weights, g, layout, 'f32')
  const spec = g.build(decoderFamily(cfg.architecture).build(cfg, g, w))
  const graph = format.fused
    ? fusedDecoderGraphToOnnx(spec, cfg.vocabSize, format, cfg.maxPositions)
    : decoderGraphToOnnx(spec, cfg.vocabSize, format)
  const past = graph.inputs
    .filter((i) => i.name?.startsWith('past_key_values.'))
    .map((i) => {
      const dims = valueInfoDims(i)
      return {
        name: i.name as string,
        heads: dims[1] as number,
        headDim: dims[3] as number,
        type: format.float,
      }
    })
  return {
    task: 'text-generation-with-past',
    decoder: cfg,
    architecture: cfg.architecture,
    source: source.path,
    graph,
    warnings,
    minAtol,
    writeSidecars,
    async validate(ort, file, atol) {
      const model = loadModel(source.path)
      try {
        const ids = model.tokenizer.encode(SAMPLE_TEXT).slice(0, 24)
        return await validateDecoder(ort, file, model, past, ids, atol)
      } finally {
        model.dispose()
      }
    },
  }
}

function encoderPlan(
  dir: string,
  cfg: EncoderConfig,
  task: OnnxTask | undefined,
  format: WeightFormat,
): OnnxPlan {
  if (format.fused)
    throw new UsageError(
      `${option('optimize')} ort applies to decoders (its fused ops are attention with a KV cache)`,
    )
  const allowed: OnnxTask[] = [...new Set<OnnxTask>([HEAD_TASKS[cfg.head], 'feature-extraction'])]
  const chosen = task ?? HEAD_TASKS[cfg.head]
  if (!allowed.includes(chosen))
    refuseTask(chosen, `this ${cfg.architecture ?? cfg.modelType} checkpoint`, allowed)
  const hidden = chosen === 'feature-extraction'
  const rows = chosen === 'text-classification' ? 'first' : 'all'
  const g = new GraphBuilder({ maxRows: 1, maxOutRows: 1, contextLength: 0, slots: 1 })
  const w = new WeightSet(openCheckpoint(dir), g, HF_LAYOUT, 'f32')
  const out = encoderFamily(cfg.modelType).build(cfg, g, w, hidden ? 'hidden' : 'logits')
  const spec = g.build(out)
  const cols = spec.tensors[out].shape[1]
  const name = hidden ? 'last_hidden_state' : 'logits'
  const graph = encoderGraphToOnnx(
    spec,
    { output: name, rows, cols, positionOffset: cfg.positionOffset },
    format,
  )
  return {
    task: chosen,
    architecture: cfg.modelType,
    source: dir,
    graph,
    warnings: [],
    minAtol: 0,
    writeSidecars: (dst, external) => copySidecars(dir, dst, external),
    async validate(ort, file, atol) {
      const model = loadEncoder(dir)
      try {
        const sequences = SAMPLE_PAIR.map((t) => model.tokenizer.encode(t).slice(0, model.maxLength))
        const check = {
          output: hidden ? ('hidden' as const) : ('logits' as const),
          rows: rows as 'all' | 'first',
          name,
          hasTypes: spec.io.types !== undefined,
          padId: cfg.padTokenId ?? 0,
        }
        return await validateEncoder(ort, file, model, sequences, check, atol)
      } finally {
        model.dispose()
      }
    },
  }
}
