// Completions with echo and logprobs, the request evaluation harnesses send to score a text (a
// prompt's log-likelihood, whether each token was the greedy one): the prompt's tokens come first
// in the logprobs arrays, the first with null, each other the log-softmax of transformers' logits
// at the position before it; streamed as not; the choice's own tokens after them, unchanged.
import path from 'node:path'
import type OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../src/core/formats/safetensors.js'
import { golden } from '../helpers/fixtures.js'
import { goldenOf } from '../helpers/generation.js'
import { logSoftmax } from '../helpers/numbers.js'
import { SERVED, startServer, type TestServer } from '../helpers/server.js'

type Logprobs = OpenAI.Completions.CompletionChoice.Logprobs

const g = goldenOf('llama-tiny')
const ref = openSafetensors(path.join(golden('llama-tiny'), 'golden.safetensors'))
let server: TestServer

beforeAll(async () => {
  server = await startServer({ modelPath: golden('llama-tiny'), maxSeqs: 4 })
})
afterAll(async () => {
  await server?.close()
})

describe('echo with logprobs', () => {
  it("scores the prompt: null first, then the log-softmax of transformers' logits (max_tokens 0)", async () => {
    const V = server.model.config.vocabSize
    for (const [i, single] of g.single.entries()) {
      const ids = single.input_ids
      const want = asFloat32(ref.tensors.get(`logits.${i}`)!)
      const r = await server.client.completions.create({
        model: SERVED,
        prompt: ids,
        max_tokens: 0,
        echo: true,
        logprobs: 2,
      })
      const c = r.choices[0]
      expect(c.text).toBe(server.model.tokenizer.decode(ids))
      expect(c.finish_reason).toBe('length')
      expect(r.usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 0 })
      const lp = c.logprobs as Logprobs
      expect(lp.tokens).toHaveLength(ids.length)
      expect(lp.token_logprobs?.[0]).toBeNull()
      expect(lp.top_logprobs?.[0]).toBeNull()
      expect(lp.text_offset?.[0]).toBe(0)
      for (let t = 1; t < ids.length; t++) {
        const row = logSoftmax(want.subarray((t - 1) * V, t * V))
        expect(Math.abs((lp.token_logprobs?.[t] as number) - row[ids[t]])).toBeLessThan(1e-3)
        const top = Object.values(lp.top_logprobs?.[t] ?? {})
        expect(top.length).toBeGreaterThanOrEqual(1) // two tokens may share a text
        expect(Math.abs(Math.max(...top) - Math.max(...row))).toBeLessThan(1e-3)
        expect(lp.text_offset?.[t]).toBe((lp.text_offset?.[t - 1] ?? 0) + (lp.tokens?.[t - 1] ?? '').length)
      }
    }
  })

  it('puts the choice after the prompt, its tokens unchanged, streamed as not (text prompts, n = 2)', async () => {
    const prompts = ['Once upon a time', 'The quick brown fox']
    const body = { model: SERVED, prompt: prompts, max_tokens: 6, temperature: 0.8, seed: 3, n: 2 }
    const plain = await server.client.completions.create({ ...body, logprobs: 1 })
    const echoed = await server.client.completions.create({ ...body, logprobs: 1, echo: true })
    expect(echoed.choices).toHaveLength(4)
    for (const c of echoed.choices) {
      const prompt = prompts[Math.floor(c.index / 2)]
      const mine = plain.choices[c.index]
      const promptTokens = server.model.tokenizer.encode(prompt).length
      expect(c.text).toBe(prompt + mine.text)
      const lp = c.logprobs as Logprobs
      const own = mine.logprobs as Logprobs
      expect(lp.tokens).toHaveLength(promptTokens + (own.tokens?.length ?? 0))
      expect(lp.tokens?.slice(promptTokens)).toEqual(own.tokens)
      expect(lp.token_logprobs?.slice(promptTokens)).toEqual(own.token_logprobs)
      expect(lp.top_logprobs?.slice(promptTokens)).toEqual(own.top_logprobs)
      // The choice's offsets count from the end of the echoed prompt text.
      expect(lp.text_offset?.slice(promptTokens)).toEqual(own.text_offset?.map((o) => o + prompt.length))
      expect(lp.token_logprobs?.slice(1, promptTokens).every((x) => typeof x === 'number' && x <= 0)).toBe(
        true,
      )
      // Both choices of a prompt score it alike.
      const sibling = echoed.choices[c.index ^ 1].logprobs as Logprobs
      expect(sibling.token_logprobs?.slice(0, promptTokens)).toEqual(
        lp.token_logprobs?.slice(0, promptTokens),
      )
    }
    const stream = await server.client.completions.create({ ...body, logprobs: 1, echo: true, stream: true })
    const texts = ['', '', '', '']
    const streamed: Logprobs[] = [0, 1, 2, 3].map(() => ({
      tokens: [],
      token_logprobs: [],
      top_logprobs: [],
      text_offset: [],
    }))
    for await (const chunk of stream)
      for (const c of chunk.choices) {
        texts[c.index] += c.text
        const into = streamed[c.index]
        const lp = c.logprobs
        if (!lp) continue
        into.tokens?.push(...(lp.tokens ?? []))
        into.token_logprobs?.push(...(lp.token_logprobs ?? []))
        into.top_logprobs?.push(...(lp.top_logprobs ?? []))
        into.text_offset?.push(...(lp.text_offset ?? []))
      }
    expect(texts).toEqual(echoed.choices.map((c) => c.text))
    expect(streamed).toEqual(echoed.choices.map((c) => c.logprobs))
  })
})
