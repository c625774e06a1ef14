// Everything besides the weights that a GGUF-backed model needs: its config, generation defaults and
// tokenizer, rebuilt from the file's metadata (what config.json, generation_config.json and the
// tokenizer files give for a Hugging Face folder).
import type { GgufFile } from '../formats/gguf-read.js'
import { ggufSpecialIds, ggufTokenizer, ggufTokenizerModel } from '../tokenizer/from-gguf.js'
import type { Tokenizer } from '../tokenizer/tokenizer.js'
import type { ModelConfig } from './config.js'
import type { GenerationDefaults } from './generation-config.js'
import { ggufArchitecture, ggufModelConfig } from './gguf-config.js'
import { GgufMetadata } from './gguf-metadata.js'

export interface GgufModelInfo {
  config: ModelConfig
  generation: GenerationDefaults
  tokenizer: Tokenizer
}

/**
 * Reads a GGUF file's model config, generation defaults and tokenizer. Every problem with the
 * metadata is a FormatError naming the file and the key (an architecture kiln cannot run is an
 * UnsupportedArchitectureError).
 */
export function ggufModelInfo(file: GgufFile): GgufModelInfo {
  const meta = new GgufMetadata(file)
  ggufArchitecture(meta)
  const model = ggufTokenizerModel(meta)
  const n = meta.stringArray('tokenizer.ggml.tokens').length
  const ids = ggufSpecialIds(meta, model, n)
  // llama.cpp ends generation on end-of-turn and end-of-message tokens as well as EOS.
  const eos = [...new Set([ids.eos, ids.eot, ids.eom].filter((id) => id !== undefined))]
  const config = ggufModelConfig(file, { bosTokenId: ids.bos, eosTokenIds: eos, padTokenId: ids.pad })
  const tokenizer = ggufTokenizer(file)
  return {
    config,
    generation: { eosTokenIds: eos.slice(), bosTokenId: ids.bos, padTokenId: ids.pad, ...sampling(meta) },
    tokenizer,
  }
}

/** The sampling settings a file recommends (llama.cpp's `general.sampling.*`), where present. */
function sampling(meta: GgufMetadata): Partial<GenerationDefaults> {
  const out: Partial<GenerationDefaults> = {}
  const read = (
    key: string,
    field: 'temperature' | 'topP' | 'topK' | 'minP' | 'repetitionPenalty',
    ok: (v: number) => boolean,
    want: string,
  ) => {
    const full = `general.sampling.${key}`
    if (!meta.has(full)) return
    const v = field === 'topK' ? meta.count(full) : meta.number(full)
    if (!ok(v)) meta.fail(full, `must be ${want}, got ${v}`)
    out[field] = v
  }
  read('temp', 'temperature', (v) => v >= 0, 'a number ≥ 0')
  read('top_p', 'topP', (v) => v > 0 && v <= 1, 'a number in (0, 1]')
  read('top_k', 'topK', () => true, 'an integer ≥ 0')
  read('min_p', 'minP', (v) => v >= 0 && v <= 1, 'a number in [0, 1]')
  read('penalty_repeat', 'repetitionPenalty', (v) => v > 0, 'a number > 0')
  // A file that recommends sampling settings asks to sample (kiln's export writes them only then).
  return Object.keys(out).length > 0 ? { ...out, doSample: true } : out
}
