// Every golden case of the tok-* fixtures and the model folders' prompts, against what
// transformers + tokenizers computed.

import { describe, expect, it } from 'vitest'
import { loadTokenizer, Tokenizer } from '../../../src/core/tokenizer/index.js'
import {
  fixtureDir,
  type GoldenCase,
  type GoldenChat,
  MODEL_FIXTURES,
  readFixtureJson,
  TOKENIZER_FIXTURES,
} from './fixtures.js'

for (const name of TOKENIZER_FIXTURES) {
  describe(name, () => {
    const tok = loadTokenizer(fixtureDir(name))
    const golden = readFixtureJson<{ cases: GoldenCase[]; chat?: GoldenChat }>(name, 'golden.json')

    for (const c of golden.cases) {
      it(`encodes and decodes ${JSON.stringify(c.text).slice(0, 50)}`, () => {
        expect(tok.encode(c.text)).toEqual(c.ids)
        expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.ids_no_special)
        expect(c.ids_no_special.map((id) => tok.idToToken(id))).toEqual(c.tokens)
        expect(c.tokens.map((t) => tok.tokenToId(t))).toEqual(c.ids_no_special)
        expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decoded)
        expect(tok.decode(c.ids)).toBe(c.decoded_keep_special)
        // transformers reports offsets in code points; kiln in UTF-16 units.
        const units: number[] = []
        let u = 0
        for (const ch of c.text) {
          units.push(u)
          u += ch.length
        }
        units.push(u)
        const e = tok.encodeWithOffsets(c.text, { addSpecialTokens: false })
        expect(e.ids).toEqual(c.ids_no_special)
        expect(e.tokens).toEqual(c.tokens)
        expect(e.offsets).toEqual(c.offsets.map(([s, end]) => [units[s], units[end]]))
      })
    }

    if (golden.chat) {
      const chat = golden.chat
      it('renders the chat template', () => {
        expect(tok.hasChatTemplate).toBe(true)
        expect(tok.applyChatTemplate(chat.messages, { addGenerationPrompt: true })).toBe(chat.prompt)
        expect(tok.applyChatTemplate(chat.messages.slice(1, 3), { addGenerationPrompt: false })).toBe(
          chat.prompt_no_gen,
        )
      })
    } else {
      it('has no chat template', () => {
        expect(tok.hasChatTemplate).toBe(false)
        expect(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/no chat template/)
      })
    }
  })
}

describe('model folders', () => {
  for (const name of MODEL_FIXTURES) {
    it(`${name}: prompts encode to golden input_ids`, () => {
      const tok = Tokenizer.fromFolder(fixtureDir(name))
      const golden = readFixtureJson<{ prompts: string[]; single: { input_ids: number[] }[] }>(
        name,
        'golden.json',
      )
      golden.prompts.forEach((prompt, i) => {
        expect(tok.encode(prompt)).toEqual(golden.single[i].input_ids)
      })
    })
  }

  it('bert-tiny: sentences encode to the unpadded golden input_ids', () => {
    const tok = loadTokenizer(fixtureDir('bert-tiny'))
    const golden = readFixtureJson<{
      sentences: string[]
      input_ids: number[][]
      attention_mask: number[][]
    }>('bert-tiny', 'golden.json')
    golden.sentences.forEach((sentence, i) => {
      const unpadded = golden.input_ids[i].filter((_, j) => golden.attention_mask[i][j] === 1)
      expect(tok.encode(sentence)).toEqual(unpadded)
    })
  })

  it('reads bos/eos and vocab size from the folder', () => {
    const llama = loadTokenizer(fixtureDir('llama-tiny'))
    expect(llama.bosToken).toBe('<s>')
    expect(llama.eosToken).toBe('</s>')
    const vocab = readFixtureJson<{ model: { vocab: Record<string, number> } }>(
      'llama-tiny',
      'tokenizer.json',
    )
    expect(llama.vocabSize).toBe(Math.max(...Object.values(vocab.model.vocab)) + 1)
    expect([...llama.specialIds].sort()).toEqual([0, 1, 2])

    const qwen = loadTokenizer(fixtureDir('qwen2-tiny'))
    expect(qwen.bosToken).toBeUndefined()
    expect(qwen.eosToken).toBe('<|im_end|>')
  })
})
