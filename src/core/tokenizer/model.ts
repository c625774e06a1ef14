// The model interface (piece → ids) shared by BPE and WordPiece, and the factory that reads
// tokenizer.json's `model` section.

import { BpeModel } from './bpe.js'
import { unsupported } from './errors.js'
import { WordPieceModel } from './wordpiece.js'

export interface TokenizerModel {
  /** Appends the ids of one pre-tokenized piece to `out`. */
  tokenize(piece: string, out: number[]): void
  tokenToId(token: string): number | undefined
  idToToken(id: number): string | undefined
  /** Largest id in the vocabulary, or -1 when empty. */
  readonly maxId: number
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
    default:
      return unsupported('model type', type, ['BPE', 'WordPiece'])
  }
}
