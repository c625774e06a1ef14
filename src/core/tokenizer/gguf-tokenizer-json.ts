// A GGUF file's tokenizer written as Hugging Face files (tokenizer.json, tokenizer_config.json), for
// exports that put a GGUF model in a Hugging Face layout (ONNX). The pipeline is the one
// from-gguf.ts runs: `gpt2` vocabularies are byte-level BPE with the named pre-tokenizer's splits;
// `llama` (SentencePiece) vocabularies become transformers' own form of them, BPE with byte fallback,
// whose merges are the file's `tokenizer.ggml.merges` or, absent those, every split of a token into
// two tokens ranked by the token's score (transformers' SentencePieceExtractor).
import type { GgufFile } from '../formats/gguf-read.js'
import { GGUF_TOKEN_TYPE } from '../formats/gguf-types.js'
import { readGgufVocab } from './from-gguf.js'
import { BYTE_LEVEL_DECODER, llamaSpmStages } from './gguf-pretokenizers.js'

type Json = Record<string, unknown>

export interface TokenizerFiles {
  /** tokenizer.json */
  tokenizer: Json
  /** tokenizer_config.json: special tokens, chat template, PreTrainedTokenizerFast. */
  config: Json
}

export interface TokenizerFilesOptions {
  /** tokenizer_config.json's model_max_length (the model's context). */
  modelMaxLength?: number
}

/** tokenizer.json and tokenizer_config.json for the tokenizer of a GGUF file. */
export function ggufTokenizerFiles(file: GgufFile, opts: TokenizerFilesOptions = {}): TokenizerFiles {
  const v = readGgufVocab(file)
  const { meta, model, tokens, n, types, ids, pre } = v
  const added: Json[] = v.added.map(({ id, content, special }) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special,
  }))
  const addBos = v.addBos && ids.bos !== undefined
  const addEos = v.addEos && ids.eos !== undefined

  // A null-prototype object: a token such as "__proto__" must stay an ordinary key. A repeated
  // token maps to its last id, as in from-gguf.ts.
  const vocab: Record<string, number> = Object.create(null)
  for (let id = 0; id < n; id++) vocab[tokens[id]] = id
  const fileMerges = meta.has('tokenizer.ggml.merges') ? meta.stringArray('tokenizer.ggml.merges') : []

  const tokenizer: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: postProcessor(addBos ? ids.bos : undefined, addEos ? ids.eos : undefined, tokens),
    decoder: null,
    model: null,
  }
  if (model === 'llama') {
    Object.assign(tokenizer, llamaSpmStages(meta))
    const merges =
      fileMerges.length > 0
        ? fileMerges.map(splitMerge)
        : mergesFromScores(tokens, meta.numberArray('tokenizer.ggml.scores', n, false), types)
    tokenizer.model = bpe(vocab, merges, {
      unk_token: ids.unk === undefined ? null : tokens[ids.unk],
      byte_fallback: true,
      ignore_merges: false,
    })
  } else {
    tokenizer.pre_tokenizer = pre!.tokenizerJson
    tokenizer.decoder = BYTE_LEVEL_DECODER
    tokenizer.model = bpe(vocab, fileMerges.map(splitMerge), {
      unk_token: null,
      byte_fallback: false,
      ignore_merges: pre!.ignoreMerges === true,
    })
  }

  const config: Json = { tokenizer_class: 'PreTrainedTokenizerFast' }
  for (const [key, id] of [
    ['bos_token', ids.bos],
    ['eos_token', ids.eos],
    ['unk_token', ids.unk],
    ['pad_token', ids.pad],
  ] as const) {
    if (id !== undefined) config[key] = tokens[id]
  }
  config.add_bos_token = addBos
  config.add_eos_token = addEos
  config.clean_up_tokenization_spaces = false
  if (opts.modelMaxLength !== undefined) config.model_max_length = opts.modelMaxLength
  const template = meta.optionalString('tokenizer.chat_template')
  if (template !== undefined) config.chat_template = template
  return { tokenizer, config }
}

function bpe(vocab: Record<string, number>, merges: [string, string][], rest: Json): Json {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    ...rest,
    vocab,
    merges,
  }
}

/** A GGUF merge "a b" as [a, b]: split at the first space after the first character, as llama.cpp does. */
function splitMerge(merge: string): [string, string] {
  const at = merge.indexOf(' ', 1)
  return at < 0 ? [merge, ''] : [merge.slice(0, at), merge.slice(at + 1)]
}

/**
 * SentencePiece merges from scores, as transformers converts a SentencePiece BPE model: every
 * split of a token into two tokens, ranked by the whole token's score (highest first; ties in
 * vocabulary order, then by the parts' ids). A merge that makes a token at the highest score is
 * SentencePiece's (and llama.cpp's) next merge.
 */
function mergesFromScores(
  tokens: readonly string[],
  scores: ArrayLike<number>,
  types: ArrayLike<number>,
): [string, string][] {
  const id = new Map<string, number>()
  for (let i = 0; i < tokens.length; i++) id.set(tokens[i], i)
  const found: { l: string; r: string; score: number; order: number; li: number; ri: number }[] = []
  for (let t = 0; t < tokens.length; t++) {
    // Byte, control and unused tokens are never the result of a merge.
    if (types[t] !== GGUF_TOKEN_TYPE.normal && types[t] !== GGUF_TOKEN_TYPE.userDefined) continue
    const chars = [...tokens[t]]
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('')
      const r = chars.slice(k).join('')
      const li = id.get(l)
      const ri = id.get(r)
      if (li !== undefined && ri !== undefined) found.push({ l, r, score: scores[t], order: t, li, ri })
    }
  }
  found.sort((a, b) => b.score - a.score || a.order - b.order || a.li - b.li || a.ri - b.ri)
  return found.map((m) => [m.l, m.r])
}

/** BOS and EOS around each sequence, as llama.cpp's add_bos / add_eos do (transformers' TemplateProcessing). */
function postProcessor(
  bos: number | undefined,
  eos: number | undefined,
  tokens: readonly string[],
): Json | null {
  if (bos === undefined && eos === undefined) return null
  const specials: Json = {}
  const around = (seq: string, typeId: number): Json[] => {
    const out: Json[] = []
    if (bos !== undefined) out.push({ SpecialToken: { id: tokens[bos], type_id: typeId } })
    out.push({ Sequence: { id: seq, type_id: typeId } })
    if (eos !== undefined) out.push({ SpecialToken: { id: tokens[eos], type_id: typeId } })
    return out
  }
  for (const id of [bos, eos])
    if (id !== undefined) specials[tokens[id]] = { id: tokens[id], ids: [id], tokens: [tokens[id]] }
  return {
    type: 'TemplateProcessing',
    single: around('A', 0),
    pair: [...around('A', 0), ...around('B', 1)],
    special_tokens: specials,
  }
}
