// WordPiece (BERT): greedy longest-match-first over each word, continuation pieces prefixed
// with "##"; a word with any unmatched remainder becomes a single [UNK].

import { quote } from '../util/shown.js'
import { MAX_ADDED_TOKEN_LENGTH } from './added-tokens.js'
import { TokenizerError } from './errors.js'
import { countField, MAX_AFFIX, stringField } from './fields.js'
import type { ModelToken, TokenizerModel } from './model.js'
import { readVocab } from './vocab.js'

export class WordPieceModel implements TokenizerModel {
  readonly maxId: number
  /** Longest vocab entry in UTF-16 units: no longer candidate can match. */
  private longest = 0

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly byId: string[],
    maxId: number,
    private readonly unkToken: string,
    private readonly prefix: string,
    private readonly maxChars: number,
  ) {
    this.maxId = maxId
    for (const token of vocab.keys()) if (token.length > this.longest) this.longest = token.length
  }

  static fromJSON(m: Record<string, unknown>): WordPieceModel {
    const { map, byId, maxId } = readVocab(m.vocab, 'WordPiece')
    return new WordPieceModel(
      map,
      byId,
      maxId,
      stringField(m.unk_token, 'WordPiece "unk_token"', '[UNK]', MAX_ADDED_TOKEN_LENGTH),
      // Tried before every continuation piece: held to a few characters (fields.ts MAX_AFFIX).
      stringField(m.continuing_subword_prefix, 'WordPiece "continuing_subword_prefix"', '##', MAX_AFFIX),
      countField(m.max_input_chars_per_word, 'WordPiece "max_input_chars_per_word"', 100),
    )
  }

  get unkId(): number | undefined {
    return this.vocab.get(this.unkToken)
  }

  get continuingSubwordPrefix(): string {
    return this.prefix
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.byId[id]
  }

  tokenize(word: string, out: number[]): void {
    const tokens = this.split(word)
    if (tokens === undefined) out.push(this.unk())
    else for (const t of tokens) out.push(t.id)
  }

  tokenizeWithOffsets(word: string, out: ModelToken[]): void {
    const tokens = this.split(word)
    if (tokens === undefined) out.push({ id: this.unk(), value: this.unkToken, start: 0, end: word.length })
    else for (const t of tokens) out.push(t)
  }

  private unk(): number {
    const id = this.vocab.get(this.unkToken)
    if (id === undefined)
      throw new TokenizerError(
        `tokenizer.json: WordPiece unk_token ${quote(this.unkToken)} is not in the vocab`,
      )
    return id
  }

  /** Greedy longest-match-first; undefined when the word becomes a single [UNK]. */
  private split(word: string): ModelToken[] | undefined {
    // max_input_chars_per_word counts characters (code points), not UTF-16 units.
    const chars = [...word]
    if (chars.length > this.maxChars) return undefined
    const tokens: ModelToken[] = []
    let start = 0
    let unitStart = 0
    while (start < chars.length) {
      // A candidate of more characters than the longest entry has units cannot be in the vocab
      // (the same pieces as trying from the word's end, without the quadratic cost).
      let end = Math.min(chars.length, start + this.longest)
      let found: number | undefined
      let sub = ''
      while (start < end) {
        sub = chars.slice(start, end).join('')
        if (start > 0) sub = this.prefix + sub
        found = this.vocab.get(sub)
        if (found !== undefined) break
        end--
      }
      if (found === undefined) return undefined
      let unitEnd = unitStart
      for (let k = start; k < end; k++) unitEnd += chars[k].length
      tokens.push({ id: found, value: sub, start: unitStart, end: unitEnd })
      start = end
      unitStart = unitEnd
    }
    return tokens
  }
}
