// Rebuilds a model's tokenizer from GGUF `tokenizer.*` metadata, as llama.cpp reads it: `gpt2`
// (byte-level BPE: tokens, merges, and the pre-tokenizer named by `tokenizer.ggml.pre`) becomes the
// equivalent tokenizer.json; `llama` (SentencePiece: tokens, scores, byte tokens) runs SpmModel
// inside the same pipeline. The inverse of src/core/export/gguf-tokenizer.ts.
import type { GgufFile } from '../formats/gguf-read.js'
import { GGUF_TOKEN_TYPE } from '../formats/gguf-types.js'
import { GgufMetadata } from '../models/gguf-metadata.js'
import { quote } from '../util/shown.js'
import { ADDED_TYPES, BYTE_LEVEL_DECODER, ggufPreTokenizer, llamaSpmStages } from './gguf-pretokenizers.js'
import { SpmModel } from './spm.js'
import { Tokenizer } from './tokenizer.js'

type Json = Record<string, unknown>

export type GgufTokenizerModel = 'gpt2' | 'llama'

/** Special token ids named by `tokenizer.ggml.*_token_id`, with llama.cpp's defaults. */
export interface GgufSpecialIds {
  bos?: number
  eos?: number
  unk?: number
  pad?: number
  /** End of turn / end of message: llama.cpp also stops generating on these. */
  eot?: number
  eom?: number
}

/** `tokenizer.ggml.model`, checked. */
export function ggufTokenizerModel(meta: GgufMetadata): GgufTokenizerModel {
  const model = meta.string('tokenizer.ggml.model')
  if (model !== 'gpt2' && model !== 'llama') {
    meta.fail(
      'tokenizer.ggml.model',
      `is ${quote(model)}, which kiln cannot run (supported: gpt2 for byte-level BPE, llama for SentencePiece)`,
    )
  }
  return model
}

/** The special token ids; a SentencePiece vocabulary without them uses llama.cpp's 1, 2 and 0. */
export function ggufSpecialIds(
  meta: GgufMetadata,
  model: GgufTokenizerModel,
  tokens: number,
): GgufSpecialIds {
  const id = (key: string, fallback?: number) => {
    const v = meta.tokenId(`tokenizer.ggml.${key}`, tokens)
    if (v !== undefined || meta.has(`tokenizer.ggml.${key}`)) return v
    return fallback !== undefined && fallback < tokens ? fallback : undefined
  }
  const spm = model === 'llama'
  return {
    bos: id('bos_token_id', spm ? 1 : undefined),
    eos: id('eos_token_id', spm ? 2 : undefined),
    unk: id('unknown_token_id', spm ? 0 : undefined),
    pad: id('padding_token_id'),
    eot: id('eot_token_id'),
    eom: id('eom_token_id'),
  }
}

/** A GGUF file's vocabulary as its `tokenizer.*` keys give it (the reader's and the writer's). */
export function readGgufVocab(file: GgufFile) {
  const meta = new GgufMetadata(file)
  const model = ggufTokenizerModel(meta)
  const tokens = meta.stringArray('tokenizer.ggml.tokens')
  const n = tokens.length
  if (n === 0) meta.fail('tokenizer.ggml.tokens', 'is empty')
  const types = meta.has('tokenizer.ggml.token_type')
    ? meta.numberArray('tokenizer.ggml.token_type', n, true)
    : new Int32Array(n).fill(GGUF_TOKEN_TYPE.normal)
  const ids = ggufSpecialIds(meta, model, n)
  // Matched in the raw text as added tokens (control and unknown ones special).
  const added: { id: number; content: string; special: boolean }[] = []
  for (let id = 0; id < n; id++)
    if (ADDED_TYPES.has(types[id]) && tokens[id].length > 0)
      added.push({ id, content: tokens[id], special: types[id] !== GGUF_TOKEN_TYPE.userDefined })
  const pre = model === 'gpt2' ? ggufPreTokenizer(meta) : undefined
  // llama.cpp's default, where the key is absent, applies only when there is a BOS token to add.
  const bosByDefault = (model === 'llama' || pre?.addBos === true) && ids.bos !== undefined
  const addBos = meta.boolean('tokenizer.ggml.add_bos_token', bosByDefault)
  const addEos = meta.boolean('tokenizer.ggml.add_eos_token', false)
  return { meta, model, tokens, n, types, ids, added, pre, addBos, addEos }
}

/** Rebuilds the tokenizer of a GGUF file from its `tokenizer.*` metadata. */
export function ggufTokenizer(file: GgufFile): Tokenizer {
  const v = readGgufVocab(file)
  const { meta, model, tokens, n, ids, pre, addBos, addEos } = v
  // llama.cpp matches these in the raw text, never after normalization.
  const added: Json[] = v.added.map((t) => ({ ...t, normalized: false }))
  if (addBos && ids.bos === undefined) {
    meta.fail('tokenizer.ggml.add_bos_token', 'is true, but there is no "tokenizer.ggml.bos_token_id"')
  }
  if (addEos && ids.eos === undefined) {
    meta.fail('tokenizer.ggml.add_eos_token', 'is true, but there is no "tokenizer.ggml.eos_token_id"')
  }
  const pipeline: Json = {
    added_tokens: added,
    post_processor: postProcessor(addBos ? ids.bos : undefined, addEos ? ids.eos : undefined, tokens),
  }
  const config: Json = {}
  const name = (id: number | undefined) => (id === undefined ? undefined : tokens[id])
  for (const [key, id] of [
    ['bos_token', ids.bos],
    ['eos_token', ids.eos],
    ['unk_token', ids.unk],
    ['pad_token', ids.pad],
  ] as const) {
    if (id !== undefined) config[key] = name(id)
  }
  const template = meta.optionalString('tokenizer.chat_template')

  if (model === 'llama') {
    const scores = meta.numberArray('tokenizer.ggml.scores', n, false)
    Object.assign(pipeline, llamaSpmStages(meta))
    return build(meta, () =>
      Tokenizer.withModel(new SpmModel(tokens, scores, { unkId: ids.unk }), pipeline, config, template),
    )
  }

  const merges = meta.stringArray('tokenizer.ggml.merges')
  // A null-prototype object: a token such as "__proto__" must stay an ordinary key.
  const vocab: Record<string, number> = Object.create(null)
  for (let id = 0; id < n; id++) vocab[tokens[id]] = id
  pipeline.model = {
    type: 'BPE',
    vocab,
    merges,
    ignore_merges: pre!.ignoreMerges === true,
    byte_fallback: false,
    fuse_unk: false,
  }
  pipeline.pre_tokenizer = pre!.tokenizerJson
  pipeline.decoder = BYTE_LEVEL_DECODER
  return build(meta, () => Tokenizer.fromJSON(pipeline, config, template))
}

/** BOS and EOS around the sequence, as llama.cpp's add_bos / add_eos do. */
function postProcessor(
  bos: number | undefined,
  eos: number | undefined,
  tokens: readonly string[],
): Json | null {
  if (bos === undefined && eos === undefined) return null
  const single: Json[] = []
  const specials: Json = {}
  const special = (key: string, id: number) => {
    single.push({ SpecialToken: { id: key, type_id: 0 } })
    specials[key] = { id: key, ids: [id], tokens: [tokens[id]] }
  }
  if (bos !== undefined) special('BOS', bos)
  single.push({ Sequence: { id: 'A', type_id: 0 } })
  if (eos !== undefined) special('EOS', eos)
  return { type: 'TemplateProcessing', single, special_tokens: specials }
}

/** Runs a tokenizer constructor; its errors (a bad chat template, …) name the GGUF file. */
function build(meta: GgufMetadata, make: () => Tokenizer): Tokenizer {
  try {
    return make()
  } catch (e) {
    if (e instanceof Error && 'code' in e) {
      const message = e.message.replace(/^tokenizer\.json: /, '')
      // BpeModel checks the merges while it builds its tables: once, for large vocabularies.
      const key = message.startsWith('chat template')
        ? 'tokenizer.chat_template'
        : /\bmerge\b/.test(message)
          ? 'tokenizer.ggml.merges'
          : 'tokenizer.ggml.model'
      meta.fail(key, `is not valid: ${message}`)
    }
    throw e
  }
}
