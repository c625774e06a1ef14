// Reading tokenizer.json's sections, and the bounds kiln holds a pipeline to. Every value is checked
// for the shape the code after it assumes: a wrong one is a TokenizerError that names the field,
// never a TypeError further on. Values echoed in messages go through shown()/quote() (one line,
// bounded, any depth).

import { quote, shown } from '../util/shown.js'
import { TokenizerError } from './errors.js'

export type Json = Record<string, unknown>

/** Whether `v` is a JSON object (not null, not a list). */
export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** The list at `where` (absent or null: empty). */
export function listField(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value))
    throw new TokenizerError(`tokenizer.json: ${where} must be a list, got ${shown(value)}`)
  return value
}

/**
 * The string at `where` (absent or null: `fallback`). A string a stage inserts into the text
 * (a Replace's content, a prefix, a replacement character) is held to MAX_INSERTED characters.
 */
export function stringField(value: unknown, where: string, fallback: string, max = MAX_INSERTED): string {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'string')
    throw new TokenizerError(`tokenizer.json: ${where} must be a string, got ${shown(value)}`)
  if (value.length > max)
    throw new TokenizerError(
      `tokenizer.json: ${where} is ${value.length} characters long (${quote(value, 20)}); kiln accepts at most ${max} here`,
    )
  return value
}

/**
 * The one character (code point) at `where` (absent or null: `fallback`), as the Rust crate's
 * `char` fields: Metaspace's replacement, which each space becomes.
 */
export function charField(value: unknown, where: string, fallback: string): string {
  const s = stringField(value, where, fallback)
  if ([...s].length !== 1)
    throw new TokenizerError(`tokenizer.json: ${where} must be one character, got ${quote(s)}`)
  return s
}

/** The non-negative integer at `where` (absent or null: `fallback`). */
export function countField(value: unknown, where: string, fallback: number): number {
  if (value === undefined || value === null) return fallback
  if (!(Number.isSafeInteger(value) && (value as number) >= 0))
    throw new TokenizerError(`tokenizer.json: ${where} must be a non-negative integer, got ${shown(value)}`)
  return value as number
}

/**
 * Longest string a stage may insert into the text: a Replace's content, a Prepend, Metaspace's
 * replacement, a model's continuing_subword_prefix or end_of_word_suffix. Real tokenizers use one
 * to four characters ("▁", "##", "</w>"); a longer one would multiply every piece (and with
 * byte_fallback the ids of every character) by its length.
 */
export const MAX_INSERTED = 64

/** Longest continuation prefix or end-of-word suffix of a model ("##", "</w>" in real ones). */
export const MAX_AFFIX = 16

/**
 * Stages one normalizer, pre-tokenizer, decoder or post-processor may have, nested Sequences
 * counted in (real ones have fewer than ten). A Sequence that lists one shared sub-Sequence twice,
 * nested, spells out exponentially many stages.
 */
export const MAX_STAGES = 256

/** Counts the stages of one section as it is read, throwing past MAX_STAGES. */
export class StageCount {
  private n = 0
  constructor(private readonly section: string) {}

  add(): void {
    if (++this.n > MAX_STAGES)
      throw new TokenizerError(
        `tokenizer.json: the ${this.section} has more than ${MAX_STAGES} stages (nested Sequences counted in)`,
      )
  }
}

/**
 * How many times its input's length each part of the pipeline may make a text (plus MAX_INSERTED
 * characters, for a prefix on a short text). Stages that each double the text (a Replace of "a" by
 * "aa", stacked ByteLevels) would otherwise grow it exponentially, and what a stage makes is what
 * the next ones and the model work through: the factors are kept near what real pipelines do.
 * - normalizer: Unicode normalization grows a text at most 18-fold (NFKD of U+FDFA, an
 *   18-letter ligature), BertNormalizer 3-fold (spaces around CJK characters); a Replace of " " by
 *   "▁" not at all.
 * - pre-tokenizer: ByteLevel makes a character at most three (a CJK character is three bytes), a
 *   prefix space or Metaspace's "▁" adds one to a piece.
 * - decoder: WordPiece's and Metaspace's spaces at most double it; the others shrink it.
 */
export const MAX_GROWTH = { normalizer: 32, 'pre-tokenizer': 8, decoder: 8 } as const

export type GrowingSection = keyof typeof MAX_GROWTH

/** The most characters the `section` may make of an input of `length` characters. */
export function growthLimit(length: number, section: GrowingSection): number {
  return length * MAX_GROWTH[section] + MAX_INSERTED
}

/** Throws when `length` passes `limit` (from growthLimit) after a stage of the `section`. */
export function checkGrowth(length: number, limit: number, section: GrowingSection): void {
  if (length > limit)
    throw new TokenizerError(
      `tokenizer.json: the ${section} grows the text more than ${MAX_GROWTH[section]}-fold; kiln refuses a pipeline that amplifies its input this much`,
    )
}

/** Characters in all of `pieces` (strings, or NormalizedStrings). */
export function totalLength(pieces: readonly { length: number }[]): number {
  let n = 0
  for (let k = 0; k < pieces.length; k++) n += pieces[k].length
  return n
}
