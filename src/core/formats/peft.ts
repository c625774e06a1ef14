// PEFT LoRA adapters: a folder with adapter_config.json and adapter_model.safetensors, tensors
// named base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight (out, r), applied as
// W + (lora_alpha / r) · B·A (or lora_alpha / √r with use_rslora). What kiln writes PEFT loads, and
// what PEFT writes for a plain LoRA kiln applies; other PEFT methods and options are refused by name.
import { existsSync, readFileSync } from 'node:fs'
import nodePath from 'node:path'
import { FormatError } from '../errors.js'
import { writeAll, writeFileAtomic } from '../util/files.js'
import { quote, shown } from '../util/shown.js'
import { toFloat32 } from './float.js'
import { openSafetensors } from './safetensors-read.js'
import { writeSafetensors } from './safetensors-write.js'

export const PEFT_PREFIX = 'base_model.model.'

export interface LoraPair {
  /** (r, in) */
  a: Float32Array
  /** (out, r) */
  b: Float32Array
  rank: number
  inFeatures: number
  outFeatures: number
}

export interface LoraAdapter {
  dir: string
  rank: number
  alpha: number
  /** What multiplies B·A: alpha / r, or alpha / √r (rsLoRA). */
  scale: number
  targetModules: string[] | string
  /**
   * PEFT's fan_in_fan_out: the base stores its weights (in, out) (GPT-2's Conv1D). It changes only
   * how B·A folds into the weight, not the branch's output.
   */
  fanInFanOut: boolean
  /** By module path (model.layers.0.self_attn.q_proj). */
  modules: Map<string, LoraPair>
}

const MAX_CONFIG_BYTES = 1 << 20

function fail(dir: string, problem: string): never {
  throw new FormatError(`${dir}: ${problem}`)
}

function positiveNumber(dir: string, cfg: Record<string, unknown>, key: string): number {
  const v = cfg[key]
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    fail(dir, `adapter_config.json: ${key} must be a positive number, got ${shown(v)}`)
  return v
}

/** The scales float32 holds as normal numbers: B·scale is computed in float32. */
const MIN_SCALE = 2 ** -126
const MAX_SCALE = 3.4e38

// Options whose effect kiln does not apply: an adapter using them would run differently here.
function refuseUnsupported(dir: string, cfg: Record<string, unknown>): void {
  if (cfg.peft_type !== 'LORA')
    fail(dir, `adapter_config.json: peft_type ${shown(cfg.peft_type)} is not LORA`)
  const set = (k: string) => {
    const v = cfg[k]
    return !(
      v === undefined ||
      v === null ||
      v === false ||
      (typeof v === 'object' && Object.keys(v as object).length === 0)
    )
  }
  for (const key of ['use_dora', 'modules_to_save', 'rank_pattern', 'alpha_pattern', 'layers_to_transform'])
    if (set(key)) fail(dir, `adapter_config.json: ${key} is set; kiln applies plain LoRA adapters only`)
  if (cfg.bias !== undefined && cfg.bias !== 'none')
    fail(dir, `adapter_config.json: bias ${shown(cfg.bias)} is not "none"`)
}

/** Reads a PEFT LoRA adapter folder. */
export function readLoraAdapter(dir: string): LoraAdapter {
  const configFile = nodePath.join(dir, 'adapter_config.json')
  if (!existsSync(configFile)) fail(dir, 'no adapter_config.json (not a PEFT adapter folder)')
  const text = readFileSync(configFile)
  if (text.length > MAX_CONFIG_BYTES) fail(dir, 'adapter_config.json is over 1 MiB')
  let cfg: Record<string, unknown>
  try {
    cfg = JSON.parse(text.toString('utf8'))
  } catch (e) {
    fail(dir, `adapter_config.json does not parse: ${(e as Error).message}`)
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    fail(dir, 'adapter_config.json is not an object')
  refuseUnsupported(dir, cfg)
  // PEFT reads these as Python truthiness: a value other than a boolean would be read one way
  // there and another here.
  for (const key of ['use_rslora', 'fan_in_fan_out'])
    if (cfg[key] !== undefined && cfg[key] !== null && typeof cfg[key] !== 'boolean')
      fail(dir, `adapter_config.json: ${key} must be true or false, got ${shown(cfg[key])}`)
  const targetModules = (cfg.target_modules ?? []) as unknown
  if (
    typeof targetModules !== 'string' &&
    !(Array.isArray(targetModules) && targetModules.every((m) => typeof m === 'string'))
  )
    fail(
      dir,
      `adapter_config.json: target_modules must be a string or a list of strings, got ${shown(targetModules)}`,
    )
  const rank = positiveNumber(dir, cfg, 'r')
  if (!Number.isSafeInteger(rank)) fail(dir, `adapter_config.json: r must be a positive integer, got ${rank}`)
  const alpha = positiveNumber(dir, cfg, 'lora_alpha')
  const scale = cfg.use_rslora === true ? alpha / Math.sqrt(rank) : alpha / rank
  // A scale float32 cannot hold would make B·scale infinite or zero: an adapter that computes NaN
  // or silently nothing.
  if (!(scale >= MIN_SCALE && scale <= MAX_SCALE))
    fail(
      dir,
      `adapter_config.json: lora_alpha ${alpha} over ${cfg.use_rslora === true ? `√r = √${rank}` : `r = ${rank}`} is a scale of ${scale}, outside float32's range`,
    )
  const weights = nodePath.join(dir, 'adapter_model.safetensors')
  if (!existsSync(weights))
    fail(
      dir,
      'no adapter_model.safetensors (a pickled adapter_model.bin is not read: convert it to safetensors)',
    )
  const file = openSafetensors(weights)
  const parts = new Map<
    string,
    { a?: Float32Array; b?: Float32Array; aShape?: number[]; bShape?: number[] }
  >()
  for (const [name, view] of file.tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name)
    if (!m) fail(dir, `adapter tensor ${quote(name)} is not a LoRA A or B weight`)
    if (view.shape.length !== 2) fail(dir, `adapter tensor ${quote(name)} is not 2-D`)
    if (!['F32', 'F16', 'BF16'].includes(view.dtype))
      fail(dir, `adapter tensor ${quote(name)} is ${view.dtype}`)
    const part = parts.get(m[1]) ?? {}
    if (m[2] === 'A') [part.a, part.aShape] = [toFloat32(view), view.shape]
    else [part.b, part.bShape] = [toFloat32(view), view.shape]
    parts.set(m[1], part)
  }
  const modules = new Map<string, LoraPair>()
  for (const [module, p] of parts) {
    if (!p.a || !p.b || !p.aShape || !p.bShape)
      fail(dir, `module ${quote(module)} lacks its lora_A or lora_B`)
    if (p.aShape[0] !== rank || p.bShape[1] !== rank)
      fail(
        dir,
        `module ${quote(module)}: lora_A [${p.aShape}] and lora_B [${p.bShape}] do not have rank ${rank}`,
      )
    modules.set(module, { a: p.a, b: p.b, rank, inFeatures: p.aShape[1], outFeatures: p.bShape[0] })
  }
  if (modules.size === 0) fail(dir, 'the adapter has no LoRA tensors')
  return {
    dir,
    rank,
    alpha,
    scale,
    targetModules: targetModules as string[] | string,
    fanInFanOut: cfg.fan_in_fan_out === true,
    modules,
  }
}

/**
 * The base checkpoint's name for an adapter module's weight, or undefined. GPT-2's modules are named
 * from GPT2LMHeadModel (transformer.h.0.attn.c_attn) while its checkpoints and GGUF files often
 * store the bare GPT2Model names (h.0.attn.c_attn.weight): either spelling matches the other.
 */
export function baseWeightName(module: string, has: (name: string) => boolean): string | undefined {
  const candidates = [module, module.startsWith('transformer.') ? module.slice(12) : `transformer.${module}`]
  return candidates.map((m) => `${m}.weight`).find(has)
}

export interface LoraAdapterToWrite {
  rank: number
  alpha: number
  dropout: number
  /** PEFT's target_modules: module names, or "all-linear". */
  targetModules: string[] | string
  baseModel: string
  /** The base's weights are Conv1D, (in, out) (GPT-2): PEFT's fan_in_fan_out. */
  fanInFanOut?: boolean
  /** Module path → (A (r, in), B (out, r)). */
  modules: Map<string, { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }>
}

/** Writes adapter_config.json and adapter_model.safetensors into `dir` (each atomically). */
export function writeLoraAdapter(dir: string, adapter: LoraAdapterToWrite): void {
  const tensors = [...adapter.modules].flatMap(([module, m]) => [
    {
      name: `${PEFT_PREFIX}${module}.lora_A.weight`,
      dtype: 'F32' as const,
      shape: [adapter.rank, m.inFeatures],
      data: m.a,
    },
    {
      name: `${PEFT_PREFIX}${module}.lora_B.weight`,
      dtype: 'F32' as const,
      shape: [m.outFeatures, adapter.rank],
      data: m.b,
    },
  ])
  writeSafetensors(nodePath.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' })
  // The fields PEFT reads (the rest take its defaults).
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: adapter.baseModel,
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: adapter.dropout,
    target_modules: adapter.targetModules,
    bias: 'none',
    fan_in_fan_out: adapter.fanInFanOut ?? false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    revision: null,
  }
  writeFileAtomic(nodePath.join(dir, 'adapter_config.json'), (fd) =>
    writeAll(fd, Buffer.from(`${JSON.stringify(config, null, 2)}\n`, 'utf8')),
  )
}
