// Where a model comes from: a Hugging Face folder (config.json, safetensors, tokenizer.json) or a
// GGUF file (metadata + tensors in one mapped file). Both give the same pieces; the builders see
// Hugging Face tensor names either way, and the layout says how the file arranged them.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs'
import path from 'node:path'
import { FormatError } from '../errors.js'
import { openGguf } from '../formats/gguf-read.js'
import { openCheckpoint } from '../formats/safetensors.js'
import { loadModelConfig, type ModelConfig } from '../models/config.js'
import { type GenerationDefaults, loadGenerationConfig } from '../models/generation-config.js'
import { ggufModelInfo } from '../models/gguf-model-info.js'
import { ggufWeightLayout, ggufWeightViews } from '../models/gguf-weights.js'
import { HF_LAYOUT, type WeightLayout, type WeightView } from '../models/weights.js'
import { Tokenizer } from '../tokenizer/index.js'
import { refuseEscapingLinks } from '../util/folder-links.js'

export interface ModelSource {
  /** The folder or the .gguf file. */
  path: string
  format: 'safetensors' | 'gguf'
  config: ModelConfig
  generation: GenerationDefaults
  tokenizer: Tokenizer
  weights: Map<string, WeightView>
  layout: WeightLayout
}

function isGgufFile(file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const magic = Buffer.alloc(4)
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF'
  } finally {
    closeSync(fd)
  }
}

function folderSource(dir: string): ModelSource {
  const config = loadModelConfig(dir)
  return {
    path: dir,
    format: 'safetensors',
    config,
    generation: loadGenerationConfig(dir, config),
    tokenizer: Tokenizer.fromFolder(dir),
    weights: openCheckpoint(dir),
    layout: HF_LAYOUT,
  }
}

function ggufSource(file: string): ModelSource {
  const gguf = openGguf(file)
  const info = ggufModelInfo(gguf)
  const arch = info.config.architecture
  return {
    path: file,
    format: 'gguf',
    ...info,
    weights: ggufWeightViews(gguf, arch),
    layout: ggufWeightLayout(arch),
  }
}

/**
 * Opens a model folder or a GGUF file. A folder without config.json that holds exactly one .gguf
 * file (a downloaded GGUF repo) opens that file.
 */
export function openModelSource(p: string): ModelSource {
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(p)
  } catch {
    throw new FormatError(`${p}: no such model folder or file`)
  }
  if (st.isFile()) {
    if (!isGgufFile(p))
      throw new FormatError(`${p}: not a GGUF file (expected a model folder or a .gguf file)`)
    return ggufSource(p)
  }
  if (!st.isDirectory()) throw new FormatError(`${p}: not a model folder or a .gguf file`)
  // A folder from elsewhere (a clone, an archive) may link out of itself: nothing outside is read.
  refuseEscapingLinks(p)
  if (existsSync(path.join(p, 'config.json'))) return folderSource(p)
  const ggufs = readdirSync(p).filter((f) => f.endsWith('.gguf'))
  if (ggufs.length === 1) return ggufSource(path.join(p, ggufs[0]))
  if (ggufs.length > 1)
    throw new FormatError(`${p}: no config.json, and ${ggufs.length} .gguf files: name the one to load`)
  throw new FormatError(`${p}: no config.json in this folder`)
}
