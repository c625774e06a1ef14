// The model interface (piece → ids) shared by BPE, WordPiece and Unigram, and the factory that
// reads tokenizer.json's `model` section.

import { BpeModel } from './bpe.js'
import { unsupported } from './errors.js'
import { UnigramModel } from './unigram.js'
import { WordPieceModel } from './wordpiece.js'

/** A token of one piece: `start`/`end` are UTF-16 offsets into the piece. */
export interface ModelToken {
  id: number
  /** The token string the Rust crate reports (the vocab entry, or for Unigram the covered text). */
  value: string
  start: number
  end: number
}

export interface TokenizerModel {
  /** Appends the ids of one pre-tokenized piece to `out`. */
  tokenize(piece: string, out: number[]): void
  /** The same ids, as tokens with offsets (the encodeWithOffsets path; need not be as fast). */
  tokenizeWithOffsets(piece: string, out: ModelToken[]): void
  tokenToId(token: string): number | undefined
  idToToken(id: number): string | undefined
  /** Largest id in the vocabulary, or -1 when empty. */
  readonly maxId: number
  /** The id unknown text becomes, if the model has one. */
  readonly unkId?: number
  /** What marks a word's continuation pieces ("##"), for models that have it. */
  readonly continuingSubwordPrefix?: string
}

type Json = Record<string, unknown>

/** Older tokenizer.json files omit `type`; the Rust crate then infers it from the fields. */
function modelType(m: Json): unknown {
  if (m.type !== undefined) return m.type
  if (m.merges !== undefined) return 'BPE'
  if (Array.isArray(m.vocab)) return 'Unigram'
  if (m.continuing_subword_prefix !== undefined || m.max_input_chars_per_word !== undefined)
    return 'WordPiece'
  return 'WordLevel'
}

export function createModel(cfg: unknown): TokenizerModel {
  const m = (cfg ?? {}) as Json
  const type = modelType(m)
  switch (type) {
    case 'BPE':
      return BpeModel.fromJSON(m)
    case 'WordPiece':
      return WordPieceModel.fromJSON(m)
    case 'Unigram':
      return UnigramModel.fromJSON(m)
    default:
      return unsupported('model type', type, ['BPE', 'WordPiece', 'Unigram'])
  }
}
