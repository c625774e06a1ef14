// Tokenizers rebuilt from GGUF metadata (written by kiln's exporter) against the golden cases
// and against the tokenizer.json tokenizer of the same folder.
import { describe, expect, it } from 'vitest'
import { preTokenizerName } from '../../../src/core/export/gguf-tokenizer.js'
import { ggufValue } from '../../../src/core/formats/gguf.js'
import { ggufTokenizer } from '../../../src/core/tokenizer/from-gguf.js'
import { Tokenizer } from '../../../src/core/tokenizer/tokenizer.js'
import { readJson } from '../../helpers/fixtures.js'
import { EXTRA_TEXTS, modelDir, modelGguf, tokenizerGguf } from '../../helpers/gguf-exports.js'
import type { GoldenCase, GoldenChat } from './fixtures.js'

const TOKENIZER_FIXTURES = ['tok-bytelevel', 'tok-chatml', 'tok-llama3', 'tok-sentencepiece']
const MODEL_FIXTURES = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny', 'llama3-tiny']

for (const fixture of [...TOKENIZER_FIXTURES, ...MODEL_FIXTURES]) {
  describe(fixture, () => {
    const file = TOKENIZER_FIXTURES.includes(fixture) ? tokenizerGguf(fixture) : modelGguf(fixture)
    const tok = ggufTokenizer(file)
    const reference = Tokenizer.fromFolder(modelDir(fixture))
    const goldenFile: {
      cases?: GoldenCase[]
      chat?: GoldenChat
      prompts?: string[]
      single?: { input_ids: number[] }[]
    } = readJson(`${modelDir(fixture)}/golden.json`)

    for (const c of goldenFile.cases ?? []) {
      it(`golden ${JSON.stringify(c.text).slice(0, 40)}`, () => {
        expect(tok.encode(c.text)).toEqual(c.ids)
        expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.ids_no_special)
        expect(c.ids_no_special.map((id) => tok.idToToken(id))).toEqual(c.tokens)
        expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decoded)
        expect(tok.decode(c.ids)).toBe(c.decoded_keep_special)
        const e = tok.encodeWithOffsets(c.text, { addSpecialTokens: false })
        expect(e.ids).toEqual(c.ids_no_special)
        expect(e.offsets).toEqual(reference.encodeWithOffsets(c.text, { addSpecialTokens: false }).offsets)
      })
    }

    if (goldenFile.prompts) {
      it('golden prompts encode to the golden input_ids', () => {
        goldenFile.prompts!.forEach((prompt, i) => {
          expect(tok.encode(prompt)).toEqual(goldenFile.single![i].input_ids)
        })
      })
    }

    it('agrees with the tokenizer.json tokenizer beyond the goldens', () => {
      const texts = [
        ...EXTRA_TEXTS,
        ...(goldenFile.cases ?? []).map((c) => c.text),
        ...(goldenFile.prompts ?? []),
      ]
      for (const text of texts) {
        const ids = reference.encode(text)
        expect(tok.encode(text), JSON.stringify(text)).toEqual(ids)
        expect(tok.encode(text, { addSpecialTokens: false })).toEqual(
          reference.encode(text, { addSpecialTokens: false }),
        )
        expect(tok.decode(ids)).toBe(reference.decode(ids))
        expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(
          reference.decode(ids, { skipSpecialTokens: true }),
        )
      }
      expect(tok.vocabSize).toBe(reference.vocabSize)
      expect([...tok.specialIds].sort()).toEqual([...reference.specialIds].sort())
      expect(tok.bosToken).toBe(reference.bosToken)
      expect(tok.eosToken).toBe(reference.eosToken)
      for (let id = 0; id < reference.vocabSize; id++) expect(tok.idToToken(id)).toBe(reference.idToToken(id))
    })

    if (goldenFile.chat) {
      const chat = goldenFile.chat
      it('renders the golden chat prompts', () => {
        expect(tok.hasChatTemplate).toBe(true)
        expect(tok.applyChatTemplate(chat.messages, { addGenerationPrompt: true })).toBe(chat.prompt)
        expect(tok.applyChatTemplate(chat.messages.slice(1, 3), { addGenerationPrompt: false })).toBe(
          chat.prompt_no_gen,
        )
      })
    } else {
      it('has the same chat template as the folder (or none)', () => {
        expect(tok.hasChatTemplate).toBe(reference.hasChatTemplate)
        if (reference.hasChatTemplate) {
          const messages = [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Hi there' },
          ]
          expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
            reference.applyChatTemplate(messages, { addGenerationPrompt: true }),
          )
        }
      })
    }

    it('rebuilds the pre-tokenizer the exporter named', () => {
      const model = ggufValue(file, 'tokenizer.ggml.model')
      if (model !== 'gpt2') return
      const pre = ggufValue(file, 'tokenizer.ggml.pre')
      const tj = readJson<{ pre_tokenizer: unknown }>(`${modelDir(fixture)}/tokenizer.json`)
      expect(pre).toBe(preTokenizerName(tj.pre_tokenizer))
    })
  })
}
