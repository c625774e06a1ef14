// Prompt log-probabilities (promptLogprobs): each prompt token's log-probability given the tokens
// before it, against the log-softmax of transformers' logits at every position; the same whether
// the prompt prefilled in one step or in chunks of 4, beside other sequences, after a preemption, or
// with its prefix in the cache; and the generated tokens unchanged by asking for them.
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import {
  type GenerateOptions,
  type GenerationResult,
  loadModel,
  type Model,
  type PromptLogprobs,
  Scheduler,
} from '../../../src/index.js'
import { golden } from '../../helpers/fixtures.js'
import { goldenOf } from '../../helpers/generation.js'
import { logSoftmax } from '../../helpers/numbers.js'

const g = goldenOf('llama-tiny')
const ref = openSafetensors(path.join(golden('llama-tiny'), 'golden.safetensors'))
const scoring = (maxNewTokens: number, promptLogprobs = 3): GenerateOptions => ({
  temperature: 0,
  maxNewTokens,
  promptLogprobs,
})

let model: Model
let small: Model // 4 rows per step: a prompt is scored over several steps
beforeAll(() => {
  model = loadModel(golden('llama-tiny'))
  small = loadModel(golden('llama-tiny'), { chunkSize: 4 })
})
afterAll(() => {
  model.dispose()
  small.dispose()
})

async function run(m: Model, prompt: number[] | string, o: GenerateOptions): Promise<GenerationResult> {
  const s = new Scheduler(m, { maxSeqs: 1 })
  try {
    return await s.submit(prompt, o).result
  } finally {
    s.close()
  }
}

describe('promptLogprobs', () => {
  it("are the log-softmax of transformers' logits at the position before each prompt token", async () => {
    const V = model.config.vocabSize
    for (const [i, single] of g.single.entries()) {
      const ids = single.input_ids
      const want = asFloat32(ref.tensors.get(`logits.${i}`)!)
      const r = await run(model, ids, scoring(0, 5))
      const scores = r.promptLogprobs as PromptLogprobs
      expect(scores).toHaveLength(ids.length)
      expect(scores[0]).toBeNull()
      for (let t = 1; t < ids.length; t++) {
        const lp = logSoftmax(want.subarray((t - 1) * V, t * V))
        const got = scores[t]!
        expect(Math.abs(got.logprob - lp[ids[t]])).toBeLessThan(1e-3)
        // The alternatives: the five most likely tokens, most likely first, with their values.
        expect(got.top).toHaveLength(5)
        const best = [...lp.keys()].sort((a, b) => lp[b] - lp[a])
        expect(got.top[0].id).toBe(best[0])
        for (const x of got.top) expect(Math.abs(x.logprob - lp[x.id])).toBeLessThan(1e-3)
        for (let j = 1; j < 5; j++) expect(got.top[j].logprob).toBeLessThanOrEqual(got.top[j - 1].logprob)
      }
      expect(r).toMatchObject({ tokens: [], completionTokens: 0, finishReason: 'length' })
    }
  })

  it('do not change the generated tokens; the first event carries them', async () => {
    const ids = g.single[0].input_ids
    const plain = await run(model, ids, { temperature: 0, maxNewTokens: 24 })
    expect(plain.tokens).toEqual(g.single[0].greedy_new_ids)
    expect(plain.promptLogprobs).toBeUndefined()
    const s = new Scheduler(model, { maxSeqs: 1 })
    try {
      const seq = s.submit(ids, scoring(24, 0))
      const events = []
      for await (const e of seq.events) events.push(e)
      const r = await seq.result
      expect(r.tokens).toEqual(plain.tokens)
      expect(r.promptLogprobs?.slice(1).every((x) => x?.top.length === 0)).toBe(true)
      expect(events[0].promptLogprobs).toEqual(r.promptLogprobs)
      expect(events.slice(1).every((e) => e.promptLogprobs === undefined)).toBe(true)
    } finally {
      s.close()
    }
  })

  it('are bit-identical chunked, beside other sequences, after a preemption, and with a cached prefix', async () => {
    const long = 'A much longer prompt that takes a few prefill chunks of rows, and then some more words.'
    const whole = await run(model, long, scoring(6))
    expect(whole.promptLogprobs).toHaveLength(whole.promptTokens)
    expect(await run(small, long, scoring(6))).toMatchObject({
      tokens: whole.tokens,
      promptLogprobs: whole.promptLogprobs,
    })
    // Five sequences in 6 blocks of 16 positions: some are preempted and recomputed.
    const crowded = new Scheduler(small, { maxSeqs: 5, contextLength: 64, kvBlocks: 6 })
    try {
      const others = g.prompts.map((p) => crowded.submit(p, { temperature: 0, maxNewTokens: 24 }))
      const mine = crowded.submit(long, scoring(6))
      const [r] = await Promise.all([mine.result, ...others.map((o) => o.result)])
      expect(crowded.stats.preemptions).toBeGreaterThan(0)
      expect(r).toMatchObject({ tokens: whole.tokens, promptLogprobs: whole.promptLogprobs })
    } finally {
      crowded.close()
    }
    // The prompt's blocks are cached by a first run; a scoring run computes them anyway (it needs
    // their logits) and finds the same values, and a plain run after it takes them from the cache.
    const s = new Scheduler(model, { maxSeqs: 1 })
    try {
      await s.submit(long, { temperature: 0, maxNewTokens: 6 }).result
      const hits = s.stats.prefixHits
      expect(s.stats.cachedBlocks).toBeGreaterThan(0)
      const again = await s.submit(long, scoring(6)).result
      expect(again).toMatchObject({ tokens: whole.tokens, promptLogprobs: whole.promptLogprobs })
      expect(s.stats.prefixHits).toBe(hits)
      await s.submit(long, { temperature: 0, maxNewTokens: 6 }).result
      expect(s.stats.prefixHits).toBeGreaterThan(hits)
    } finally {
      s.close()
    }
  })

  it('a one-token prompt has only its null; out-of-range counts are refused before queueing', async () => {
    const r = await run(model, [1], scoring(0))
    expect(r.promptLogprobs).toEqual([null])
    const s = new Scheduler(model, { maxSeqs: 1 })
    try {
      expect(() => s.submit('x', { promptLogprobs: 21 })).toThrow(
        /promptLogprobs must be an integer from 0 to 20/,
      )
      expect(() => s.submit('x', { promptLogprobs: -1 })).toThrow(/promptLogprobs must be an integer/)
      expect(s.stats.waiting).toBe(0)
    } finally {
      s.close()
    }
  })
})
