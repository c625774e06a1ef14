// Unsupported tokenizer kinds and missing files fail with a clear TokenizerError.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadTokenizer, Tokenizer, TokenizerError } from '../../../src/core/tokenizer/index.js'
import { readFixtureJson } from './fixtures.js'

const base = () => readFixtureJson<Record<string, unknown>>('tok-llama3', 'tokenizer.json')

function error(fn: () => unknown): TokenizerError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerError)
    expect((e as TokenizerError).code).toBe('E_TOKENIZER')
    return e as TokenizerError
  }
  throw new Error('expected a TokenizerError')
}

describe('unsupported tokenizer kinds', () => {
  it('rejects a WordLevel model', () => {
    const json = { ...base(), model: { type: 'WordLevel', vocab: { '[UNK]': 0 }, unk_token: '[UNK]' } }
    expect(error(() => Tokenizer.fromJSON(json)).message).toBe(
      'tokenizer.json: unsupported model type "WordLevel" (supported: BPE, WordPiece, Unigram)',
    )
  })

  it('infers a Unigram model without a type field from its vocab list, and checks unk_id', () => {
    const json = { ...base(), model: { unk_id: 0, vocab: [['<unk>', 0]] } }
    expect(Tokenizer.fromJSON(json).tokenToId('<unk>')).toBe(0)
    const bad = { ...base(), model: { unk_id: 3, vocab: [['<unk>', 0]] } }
    expect(error(() => Tokenizer.fromJSON(bad)).message).toMatch(/Unigram unk_id 3 is outside the vocab/)
  })

  it('rejects an unknown pre-tokenizer, normalizer, decoder and post-processor', () => {
    expect(
      error(() => Tokenizer.fromJSON({ ...base(), pre_tokenizer: { type: 'UnicodeScripts' } })).message,
    ).toMatch(/^tokenizer\.json: unsupported pre-tokenizer "UnicodeScripts" \(supported: .*ByteLevel/)
    expect(error(() => Tokenizer.fromJSON({ ...base(), normalizer: { type: 'Nmt' } })).message).toMatch(
      /unsupported normalizer "Nmt"/,
    )
    expect(
      error(() =>
        Tokenizer.fromJSON({ ...base(), normalizer: { type: 'Precompiled', precompiled_charsmap: '' } }),
      ).message,
    ).toMatch(/precompiled_charsmap is empty/)
    expect(error(() => Tokenizer.fromJSON({ ...base(), decoder: { type: 'Nope' } })).message).toMatch(
      /unsupported decoder "Nope"/,
    )
    expect(error(() => Tokenizer.fromJSON({ ...base(), post_processor: { type: 'Nope' } })).message).toMatch(
      /unsupported post-processor "Nope"/,
    )
  })

  it('rejects nested pre-tokenizers inside a Sequence too', () => {
    const json = { ...base(), pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'FixedLength' }] } }
    expect(error(() => Tokenizer.fromJSON(json)).message).toMatch(/unsupported pre-tokenizer "FixedLength"/)
  })

  it('rejects an unknown split behavior and an untranslatable regex', () => {
    const split = (pattern: unknown, behavior = 'Isolated') => ({
      ...base(),
      pre_tokenizer: { type: 'Split', pattern, behavior, invert: false },
    })
    expect(error(() => Tokenizer.fromJSON(split({ Regex: '\\s' }, 'Sideways'))).message).toMatch(
      /unsupported split behavior "Sideways"/,
    )
    expect(error(() => Tokenizer.fromJSON(split({ Regex: '(a)\\1' }))).message).toMatch(/backreferences/)
    expect(error(() => Tokenizer.fromJSON(split({ Regex: '[a-z&&[^aeiou]]' }))).message).toMatch(
      /intersection/,
    )
  })

  it('rejects something that is not a tokenizer.json', () => {
    expect(error(() => Tokenizer.fromJSON({ hello: 1 })).message).toMatch(/expected an object with a "model"/)
    expect(error(() => Tokenizer.fromJSON(null)).message).toMatch(/expected an object/)
  })
})

describe('files', () => {
  it('names the missing tokenizer.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tok-'))
    expect(error(() => loadTokenizer(dir)).message).toBe(
      `tokenizer.json not found: ${join(dir, 'tokenizer.json')}`,
    )
  })

  it('names a file that is not valid JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tok-'))
    writeFileSync(join(dir, 'tokenizer.json'), '{ not json')
    expect(error(() => loadTokenizer(dir)).message).toMatch(
      new RegExp(`^${join(dir, 'tokenizer.json')} is not valid JSON`),
    )
  })

  it('works without tokenizer_config.json (no bos/eos, no template)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tok-'))
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(base()))
    const tok = loadTokenizer(dir)
    expect(tok.bosToken).toBeUndefined()
    expect(tok.hasChatTemplate).toBe(false)
    expect(tok.encode('Hello')).toEqual(Tokenizer.fromJSON(base()).encode('Hello'))
  })

  it('reports a chat template error as a TokenizerError', () => {
    const tok = Tokenizer.fromJSON(base(), {}, "{{ raise_exception('only user turns') }}")
    expect(error(() => tok.applyChatTemplate([{ role: 'system', content: 'x' }])).message).toBe(
      'chat template: only user turns',
    )
  })
})
