// WordPiece (BERT): greedy longest-match-first over each word, continuation pieces prefixed
// with "##"; a word with any unmatched remainder becomes a single [UNK].

import { TokenizerError } from './errors.js'
import type { TokenizerModel } from './model.js'
import { readVocab } from './vocab.js'

export class WordPieceModel implements TokenizerModel {
  readonly maxId: number

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly byId: string[],
    maxId: number,
    private readonly unkToken: string,
    private readonly prefix: string,
    private readonly maxChars: number,
  ) {
    this.maxId = maxId
  }

  static fromJSON(m: Record<string, unknown>): WordPieceModel {
    const { map, byId, maxId } = readVocab(m.vocab, 'WordPiece')
    return new WordPieceModel(
      map,
      byId,
      maxId,
      String(m.unk_token ?? '[UNK]'),
      String(m.continuing_subword_prefix ?? '##'),
      typeof m.max_input_chars_per_word === 'number' ? m.max_input_chars_per_word : 100,
    )
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.byId[id]
  }

  tokenize(word: string, out: number[]): void {
    for (const id of this.split(word)) out.push(id)
  }

  private unk(): number[] {
    const id = this.vocab.get(this.unkToken)
    if (id === undefined)
      throw new TokenizerError(`tokenizer.json: WordPiece unk_token "${this.unkToken}" is not in the vocab`)
    return [id]
  }

  private split(word: string): number[] {
    const chars = [...word]
    if (chars.length > this.maxChars) return this.unk()
    const ids: number[] = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length
      let found: number | undefined
      while (start < end) {
        const sub = chars.slice(start, end).join('')
        found = this.vocab.get(start > 0 ? this.prefix + sub : sub)
        if (found !== undefined) break
        end--
      }
      if (found === undefined) return this.unk()
      ids.push(found)
      start = end
    }
    return ids
  }
}
