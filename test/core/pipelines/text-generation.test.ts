// text-generation through pipeline(): the decoder path, shaped as transformers.js.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { GeneratedText } from '../../../src/core/pipelines/index.js'
import { golden, readJson } from '../../helpers/fixtures.js'
import { disposeAfterAll, open } from './helpers.js'

disposeAfterAll()

describe('text-generation', () => {
  it("greedy decoding gives transformers' text, the prompt first unless returnFullText is false", async () => {
    const dir = golden('llama-tiny')
    const g = readJson<{ prompts: string[]; single: { greedy_text: string }[] }>(
      path.join(dir, 'golden.json'),
    )
    const generate = await open('text-generation', dir)
    const [full] = (await generate(g.prompts[0], { maxNewTokens: 24, temperature: 0 })) as GeneratedText[]
    expect(full.generated_text).toBe(g.prompts[0] + g.single[0].greedy_text)
    const many = (await generate(g.prompts.slice(0, 2), {
      maxNewTokens: 24,
      temperature: 0,
      returnFullText: false,
    })) as GeneratedText[][]
    expect(many.map((r) => r[0].generated_text)).toEqual(g.single.slice(0, 2).map((s) => s.greedy_text))
  })

  it('an unknown task is one clear error naming the tasks', async () => {
    await expect(open('summarization' as 'fill-mask', golden('bert-tiny'))).rejects.toThrow(
      /unknown task "summarization" \(tasks: text-classification, .*text-generation\)/,
    )
  })
})
