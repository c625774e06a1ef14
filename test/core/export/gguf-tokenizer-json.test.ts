// The Hugging Face tokenizer files written from a GGUF file's metadata (for ONNX exports of GGUF
// models), judged by the Rust `tokenizers` crate: it loads tokenizer.json and encodes every golden
// and extra text to the ids of kiln's own GGUF tokenizer, with and without special tokens, and
// decodes them back as kiln does. SentencePiece vocabularies are checked with the file's merges
// and without them (merges rebuilt from the scores).
import { Tokenizer as RustTokenizer } from 'tokenizers'
import { describe, expect, it } from 'vitest'
import type { GgufFile } from '../../../src/core/formats/gguf.js'
import { ggufTokenizer } from '../../../src/core/tokenizer/from-gguf.js'
import { ggufTokenizerFiles } from '../../../src/core/tokenizer/gguf-tokenizer-json.js'
import { Tokenizer } from '../../../src/core/tokenizer/tokenizer.js'
import { golden, readJson } from '../../helpers/fixtures.js'
import { EXTRA_TEXTS, metadataGguf, modelGguf, tokenizerGguf } from '../../helpers/gguf-exports.js'

const TOKENIZER_FIXTURES = ['tok-bytelevel', 'tok-chatml', 'tok-llama3', 'tok-sentencepiece']
const MODEL_FIXTURES = ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny', 'llama3-tiny']

/** Every golden text of every tokenizer fixture, the prompts of `fixture`, and the extra texts. */
function texts(fixture: string): string[] {
  const cases = TOKENIZER_FIXTURES.flatMap(
    (name) => readJson<{ cases: { text: string }[] }>(`${golden(name)}/golden.json`).cases,
  ).map((c) => c.text)
  const own = readJson<{ prompts?: string[] }>(`${golden(fixture)}/golden.json`).prompts ?? []
  return [...own, ...EXTRA_TEXTS, ...cases, 'Hello   world\u2581 ▁x <s> </s>', 'über 10 000 €']
}

/** The same GGUF without `tokenizer.ggml.merges` (as llama.cpp writes SentencePiece vocabularies). */
function withoutMerges(name: string, file: GgufFile): GgufFile {
  return metadataGguf(
    `${name}-no-merges`,
    [...file.metadata].filter(([key]) => key !== 'tokenizer.ggml.merges'),
  )
}

async function expectSameIds(file: GgufFile, fixture: string): Promise<void> {
  const kiln = ggufTokenizer(file)
  const files = ggufTokenizerFiles(file)
  const rust = RustTokenizer.fromString(JSON.stringify(files.tokenizer))
  const reread = Tokenizer.fromJSON(files.tokenizer, files.config)
  for (const text of texts(fixture)) {
    const what = JSON.stringify(text)
    const ids = kiln.encode(text)
    expect((await rust.encode(text, null, { addSpecialTokens: true })).getIds(), what).toEqual(ids)
    const bare = kiln.encode(text, { addSpecialTokens: false })
    expect((await rust.encode(text, null, { addSpecialTokens: false })).getIds(), what).toEqual(bare)
    expect(reread.encode(text), what).toEqual(ids)
    expect(await rust.decode(ids, true), what).toBe(kiln.decode(ids, { skipSpecialTokens: true }))
  }
}

describe('tokenizer.json from GGUF metadata', () => {
  for (const fixture of [...TOKENIZER_FIXTURES, ...MODEL_FIXTURES]) {
    it(`${fixture}: the tokenizers crate encodes as kiln's GGUF tokenizer`, async () => {
      const file = TOKENIZER_FIXTURES.includes(fixture) ? tokenizerGguf(fixture) : modelGguf(fixture)
      await expectSameIds(file, fixture)
      const { tokenizer, config } = ggufTokenizerFiles(file, { modelMaxLength: 256 })
      const kiln = ggufTokenizer(file)
      expect(config).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: 256 })
      expect(config.bos_token).toBe(kiln.bosToken)
      expect(config.eos_token).toBe(kiln.eosToken)
      expect(config.chat_template).toBe(file.metadata.get('tokenizer.chat_template')?.value)
      expect(Object.keys((tokenizer.model as { vocab: object }).vocab).length).toBeGreaterThan(0)
    })
  }

  for (const fixture of ['tok-sentencepiece', 'llama-tiny']) {
    it(`${fixture}: without merges in the file, merges rebuilt from the scores encode the same`, async () => {
      const source = TOKENIZER_FIXTURES.includes(fixture) ? tokenizerGguf(fixture) : modelGguf(fixture)
      expect(source.metadata.get('tokenizer.ggml.model')?.value).toBe('llama')
      const file = withoutMerges(fixture, source)
      expect(file.metadata.has('tokenizer.ggml.merges')).toBe(false)
      await expectSameIds(file, fixture)
    })
  }
})
