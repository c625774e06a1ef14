// Generation cases shared by the library tests (test/core/runtime/generation.test.ts) and the CLI's
// (test/commands/generate.test.ts): golden data by model name, and golden model copies edited to
// provoke a case. The copies are temp folders: call removeTempDirs (helpers/cli.ts) in afterAll.
import path from 'node:path'
import { copyModel, editJson } from './cli.js'
import { type GoldenLM, golden, readJson } from './fixtures.js'

export const goldenOf = (name: string) => readJson<GoldenLM>(path.join(golden(name), 'golden.json'))

/**
 * A gpt2-tiny copy whose token 1 ("!", which it generates greedily 24 times for golden prompt 1)
 * reads "😀": two UTF-16 units, so holding back len(stop) − 1 units can fall between them.
 */
export function emojiGpt2(): string {
  const dir = copyModel('gpt2-tiny')
  editJson(path.join(dir, 'tokenizer.json'), (t) => {
    const vocab = (t.model as { vocab: Record<string, number> }).vocab
    delete vocab['!']
    vocab['ðŁĺĢ'] = 1 // the byte-level spelling of F0 9F 98 80
  })
  return dir
}

/** A llama-tiny copy whose EOS (in generation_config.json) is its first greedy token for golden prompt 0. */
export function eosLlama(): { dir: string; eos: number } {
  const eos = goldenOf('llama-tiny').single[0].greedy_new_ids[0]
  const dir = copyModel('llama-tiny')
  editJson(path.join(dir, 'generation_config.json'), (c) => {
    c.eos_token_id = eos
  })
  return { dir, eos }
}
