// Paths and loaders for the golden tokenizer fixtures (test/fixtures/golden).

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { GOLDEN } from '../../helpers/fixtures.js'

export { GOLDEN }

export const TOKENIZER_FIXTURES = [
  'tok-bytelevel',
  'tok-chatml',
  'tok-llama3',
  'tok-sentencepiece',
  'tok-wordpiece',
]
/** Generated fixtures (test/fixtures/tokenizers, made by make-fixtures.mjs): RoBERTa, cased BERT, Unigram. */
export const EXTRA_TOKENIZERS = fileURLToPath(new URL('../../fixtures/tokenizers/', import.meta.url))
export const EXTRA_FIXTURES = [
  'roberta-bpe',
  'roberta-prefix',
  'bert-cased',
  'xlmr-unigram',
  'albert-unigram',
  't5-bytefallback',
]
export const UNIGRAM_FIXTURES = ['xlmr-unigram', 'albert-unigram', 't5-bytefallback']

/** A tokenizer fixture's folder: a golden tok-* one or a generated one. */
export function tokenizerDir(name: string): string {
  return EXTRA_FIXTURES.includes(name) ? join(EXTRA_TOKENIZERS, name) : join(GOLDEN, name)
}

export const MODEL_FIXTURES = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']

export interface GoldenCase {
  text: string
  ids: number[]
  ids_no_special: number[]
  tokens: string[]
  /** Of ids_no_special, in code points (transformers' offsets). */
  offsets: [number, number][]
  decoded: string
  decoded_keep_special: string
}

export interface GoldenChat {
  messages: { role: string; content: string }[]
  prompt: string
  prompt_no_gen: string
}

export function fixtureDir(name: string): string {
  return join(GOLDEN, name)
}

export function readFixtureJson<T = Record<string, unknown>>(name: string, file: string): T {
  return JSON.parse(readFileSync(join(GOLDEN, name, file), 'utf8')) as T
}

export function hasFile(name: string, file: string): boolean {
  return existsSync(join(GOLDEN, name, file))
}
