// Every model family kiln runs, keyed by config.json's `model_type`: how to read its config and
// how to build its graph. Adding a family is its folder plus one line here.
import { existsSync, readFileSync, statSync } from 'node:fs'
import nodePath from 'node:path'
import { ConfigError, FormatError, UnsupportedArchitectureError } from '../errors.js'
import type { GraphBuilder, TensorId } from '../runtime/graph-builder.js'
import { quote, shown } from '../util/shown.js'
import { parseBertConfig } from './bert/config.js'
import { buildBert, type EncoderOutput } from './bert/model.js'
import type { EncoderConfig, EncoderType, ModelConfig } from './config.js'
import { Fields, isObject } from './config-fields.js'
import { parseDistilBertConfig } from './distilbert/config.js'
import { buildDistilBert } from './distilbert/model.js'
import { parseGpt2Config } from './gpt2/config.js'
import { buildGpt2 } from './gpt2/model.js'
import { parseLlamaConfig } from './llama/config.js'
import { buildLlama } from './llama/model.js'
import type { WeightSet } from './weights.js'

export interface DecoderFamily {
  kind: 'decoder'
  parse(f: Fields): ModelConfig
  /** The graph from token rows to the logits of the selected rows (R, V); its KV cache as g.limits say. */
  build(cfg: ModelConfig, g: GraphBuilder, w: WeightSet): TensorId
}

export interface EncoderFamily {
  kind: 'encoder'
  parse(f: Fields): EncoderConfig
  /** The graph from whole sequences to `output` of the selected rows. */
  build(cfg: EncoderConfig, g: GraphBuilder, w: WeightSet, output: EncoderOutput): TensorId
}

export const MODEL_FAMILIES: Readonly<Record<string, DecoderFamily | EncoderFamily>> = {
  llama: { kind: 'decoder', parse: (f) => parseLlamaConfig(f, 'llama'), build: buildLlama },
  mistral: { kind: 'decoder', parse: (f) => parseLlamaConfig(f, 'mistral'), build: buildLlama },
  qwen2: { kind: 'decoder', parse: (f) => parseLlamaConfig(f, 'qwen2'), build: buildLlama },
  gpt2: { kind: 'decoder', parse: parseGpt2Config, build: buildGpt2 },
  bert: { kind: 'encoder', parse: (f) => parseBertConfig(f, 'bert'), build: buildBert },
  roberta: { kind: 'encoder', parse: (f) => parseBertConfig(f, 'roberta'), build: buildBert },
  'xlm-roberta': { kind: 'encoder', parse: (f) => parseBertConfig(f, 'xlm-roberta'), build: buildBert },
  distilbert: { kind: 'encoder', parse: parseDistilBertConfig, build: buildDistilBert },
}

export const SUPPORTED_MODEL_TYPES: readonly string[] = Object.keys(MODEL_FAMILIES)

export type AnyModelConfig =
  | { kind: 'decoder'; config: ModelConfig }
  | { kind: 'encoder'; config: EncoderConfig }

/** The family of a parsed config.json, by its model_type; an unknown one is one line listing the known. */
export function modelFamily(
  json: unknown,
  source = 'config.json',
): { family: DecoderFamily | EncoderFamily; f: Fields } {
  if (!isObject(json)) throw new ConfigError(`${source}: must be a JSON object`)
  const f = new Fields(json, source)
  const modelType = f.get('model_type')
  const supported = SUPPORTED_MODEL_TYPES.join(', ')
  if (modelType === undefined) f.fail(`"model_type" is missing (supported: ${supported})`)
  if (typeof modelType !== 'string' || !Object.hasOwn(MODEL_FAMILIES, modelType)) {
    throw new UnsupportedArchitectureError(
      `unsupported architecture ${shown(modelType)} (supported: ${supported})`,
    )
  }
  return { family: MODEL_FAMILIES[modelType], f }
}

/** Normalises a parsed config.json of any family. */
export function parseAnyConfig(json: unknown, source = 'config.json'): AnyModelConfig {
  const { family, f } = modelFamily(json, source)
  return family.kind === 'decoder'
    ? { kind: 'decoder', config: family.parse(f) }
    : { kind: 'encoder', config: family.parse(f) }
}

/** Normalises a decoder's config.json; an encoder's is refused with what it is for instead. */
export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  const { family, f } = modelFamily(json, source)
  if (family.kind === 'encoder') {
    throw new UnsupportedArchitectureError(
      `${quote(String(f.get('model_type')))} is an encoder (classification, embeddings, fill-mask, NER), not a text generator`,
    )
  }
  return family.parse(f)
}

/** The parsed JSON of `dir/config.json`; a missing or broken file is one line naming it. */
export function readConfigJson(dir: string): { json: unknown; file: string } {
  const file = nodePath.join(dir, 'config.json')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new FormatError(
      code === 'ENOENT' ? `${file}: not found` : `${file}: cannot read: ${(e as Error).message}`,
    )
  }
  try {
    return { json: JSON.parse(text), file }
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`)
  }
}

/** Reads and normalises `dir/config.json` of a decoder. */
export function loadModelConfig(dir: string): ModelConfig {
  const { json, file } = readConfigJson(dir)
  return parseModelConfig(json, file)
}

/** Reads and normalises `dir/config.json` of an encoder; a decoder's is refused. */
export function loadEncoderConfig(dir: string): EncoderConfig {
  const { json, file } = readConfigJson(dir)
  const parsed = parseAnyConfig(json, file)
  if (parsed.kind !== 'encoder') {
    throw new UnsupportedArchitectureError(
      `${file}: ${quote(parsed.config.architecture)} is a text generator, not an encoder (supported encoders: ${encoderTypes().join(', ')})`,
    )
  }
  return parsed.config
}

export function encoderTypes(): EncoderType[] {
  return SUPPORTED_MODEL_TYPES.filter((t) => MODEL_FAMILIES[t].kind === 'encoder') as EncoderType[]
}

export function decoderFamily(arch: string): DecoderFamily {
  const family = MODEL_FAMILIES[arch]
  if (family?.kind !== 'decoder')
    throw new UnsupportedArchitectureError(`${quote(arch)} is not a decoder family`)
  return family
}

export function encoderFamily(type: EncoderType): EncoderFamily {
  return MODEL_FAMILIES[type] as EncoderFamily
}

/**
 * What the model at `p` is, without loading it: an encoder (embeddings, classification) or a text
 * generator, by its config.json's model_type. A file, or a folder without config.json, is a GGUF
 * model: a generator. A path that is neither is left for the loader to refuse, in its own words.
 */
export function checkpointKind(p: string): 'encoder' | 'decoder' {
  let isFolder: boolean
  try {
    isFolder = statSync(p).isDirectory()
  } catch {
    return 'decoder'
  }
  if (!isFolder || !existsSync(nodePath.join(p, 'config.json'))) return 'decoder'
  const { json, file } = readConfigJson(p)
  return modelFamily(json, file).family.kind
}
