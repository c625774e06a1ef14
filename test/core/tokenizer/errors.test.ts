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

// Hostile files (the fuzzing issue): ids and templates that would make kiln size things by them.
describe('ids and templates that ask for unbounded work', () => {
  it('refuses a vocabulary or an added token with an absurd id', () => {
    const json = base()
    const model = json.model as { vocab: Record<string, number> }
    const vocab = { ...model.vocab, huge: 1e9 }
    expect(error(() => Tokenizer.fromJSON({ ...json, model: { ...model, vocab } })).message).toMatch(
      /BPE vocab token "huge" has id 1000000000; ids must be integers from 0 to \d+ here/,
    )
    for (const id of [-1, 1.5, '7', 1e9]) {
      const added = [{ id, content: '<x>', special: true }]
      expect(error(() => Tokenizer.fromJSON({ ...json, added_tokens: added })).message).toMatch(
        /added token "<x>" has id/,
      )
    }
  })

  it('stops chat templates that loop, recurse or grow without end, in seconds, with a clear error', () => {
    const tok = Tokenizer.fromJSON(base())
    const hostile = {
      'a huge range': '{% for i in range(10**9) %}x{% endfor %}',
      'endless loops': '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
      'a doubling string':
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
      'endless recursion': '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
      'a huge indent': "{{ 'a\\nb' | indent(300000000) }}",
    }
    for (const [what, source] of Object.entries(hostile)) {
      const t0 = performance.now()
      const e = error(() => tok.compileChatTemplate(source).render([{ role: 'user', content: 'hi' }], true))
      expect(e.message, what).toMatch(/^chat template .*refused$|^chat template: /)
      expect(performance.now() - t0, what).toBeLessThan(15_000)
    }
    // An ordinary template on a long chat stays well inside the limits.
    const chat = Array.from({ length: 2000 }, (_, i) => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `message ${i}`,
    }))
    const t = tok.compileChatTemplate(
      '{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}\n{% endfor %}',
    )
    expect(t.render(chat, true).split('\n')).toHaveLength(2001)
  })
})
