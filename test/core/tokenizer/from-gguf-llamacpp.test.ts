// llama.cpp (node-llama-cpp, vocabulary only) as a second judge of the rebuilt tokenizers: for the
// exported golden models it must split every golden and extra text into the ids kiln does.
// Skipped, with a message, when node-llama-cpp is not installed.
import { describe, expect, it } from 'vitest'
import { ggufTokenizer } from '../../../src/core/tokenizer/from-gguf.js'
import { golden, readJson } from '../../helpers/fixtures.js'
import { EXTRA_TEXTS, modelGguf } from '../../helpers/gguf-exports.js'
import { nlc, openLlama } from '../../helpers/gguf-peers.js'

if (!nlc) console.warn('node-llama-cpp is not installed: skipping the llama.cpp checks of GGUF tokenizers')

interface VocabModel {
  tokenize(text: string, specialTokens: boolean): readonly number[]
  dispose(): Promise<void>
}

describe.skipIf(!nlc)('llama.cpp tokenizes the exported models as kiln does', () => {
  for (const fixture of ['llama-tiny', 'qwen2-tiny', 'gpt2-tiny', 'llama3-tiny']) {
    it(fixture, async () => {
      const file = modelGguf(fixture)
      const tok = ggufTokenizer(file)
      const { prompts } = readJson<{ prompts: string[] }>(`${golden(fixture)}/golden.json`)
      const cases = ['tok-bytelevel', 'tok-chatml', 'tok-llama3', 'tok-sentencepiece'].flatMap(
        (name) => readJson<{ cases: { text: string }[] }>(`${golden(name)}/golden.json`).cases,
      )
      const llama = await openLlama()
      try {
        const load = (llama as unknown as { loadModel(o: object): Promise<VocabModel> }).loadModel
        const model = await load.call(llama, { modelPath: file.path, vocabOnly: true })
        try {
          for (const text of [...prompts, ...EXTRA_TEXTS, ...cases.map((c) => c.text)]) {
            expect(tok.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual([
              ...model.tokenize(text, true),
            ])
          }
        } finally {
          await model.dispose()
        }
      } finally {
        await llama.dispose()
      }
    })
  }
})
