// Each logits processor against transformers' own output on the same scores, plus seeded sampling.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { native, type SampleParams } from '../../../src/core/native.js'
import { Sampler, tokenLogprobs, validateSampling } from '../../../src/core/runtime/sampling.js'
import { golden, readJson } from '../../helpers/fixtures.js'

const dir = golden('sampling')
const file = openSafetensors(path.join(dir, 'logits_processors.safetensors'))
const meta = readJson<{ input_ids: number[][] }>(path.join(dir, 'golden.json'))
const scores = asFloat32(file.tensors.get('scores')!)
const V = file.tensors.get('scores')!.shape[1]
const B = file.tensors.get('scores')!.shape[0]

const CASES: [string, (row: number) => SampleParams][] = [
  [
    'repetition_penalty_1.3',
    (row) => ({ repetitionPenalty: 1.3, history: Int32Array.from(meta.input_ids[row]) }),
  ],
  ['temperature_0.7', () => ({ temperature: 0.7 })],
  ['top_k_10', () => ({ topK: 10 })],
  ['top_p_0.9', () => ({ topP: 0.9 })],
  ['min_p_0.1', () => ({ minP: 0.1 })],
]

describe('logits processors equal transformers', () => {
  for (const [name, params] of CASES) {
    it(name, () => {
      const want = asFloat32(file.tensors.get(name)!)
      for (let r = 0; r < B; r++) {
        const row = scores.slice(r * V, (r + 1) * V)
        native().applyProcessors(row, params(r))
        for (let i = 0; i < V; i++) {
          const w = want[r * V + i]
          if (w === Number.NEGATIVE_INFINITY) expect(row[i]).toBe(Number.NEGATIVE_INFINITY)
          else expect(Math.abs(row[i] - w)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w)))
        }
      }
    })
  }
})

describe('token choice', () => {
  const row = () => scores.slice(0, V)

  it('greedy picks the argmax', () => {
    const r = row()
    let best = 0
    for (let i = 1; i < V; i++) if (r[i] > r[best]) best = i
    expect(new Sampler({ temperature: 0 }, [], 1).next(row(), [])).toBe(best)
  })

  it('greedy takes the first of tied maxima, skips NaNs (but for one at index 0), ties +0 and -0', () => {
    // the definition: the scalar loop (the vector argmax must give the same index)
    const first = (x: Float32Array) => {
      let best = 0
      for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i
      return best
    }
    let seed = 7
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed / 2 ** 32
    }
    const cases: Float32Array[] = []
    for (const n of [1, 2, 7, 8, 9, 15, 16, 17, 33, 1000, 32003]) {
      const x = Float32Array.from({ length: n }, () => Math.round(rand() * 40) / 4 - 5) // many ties
      cases.push(x)
      const y = x.slice()
      y[Math.floor(rand() * n)] = Number.NaN
      y[n - 1] = Number.NaN
      cases.push(y)
      const z = x.slice()
      z[0] = Number.NaN
      cases.push(z)
    }
    cases.push(
      Float32Array.from([-0, 0, -0]),
      Float32Array.from([0, -0]),
      new Float32Array(40).fill(-Infinity),
    )
    cases.push(Float32Array.from({ length: 20 }, (_, i) => (i === 11 || i === 19 ? Infinity : i)))
    cases.push(Float32Array.from({ length: 20 }, (_, i) => (i < 19 ? Number.NaN : 1)))
    for (const x of cases)
      expect(native().sampleToken(x.slice(), { temperature: 0 }), `n=${x.length}`).toBe(first(x))
  })

  it('the same seed gives the same tokens; another seed differs somewhere', () => {
    const draw = (seed: number) => {
      const s = new Sampler({ temperature: 1.5 }, [], seed)
      return Array.from({ length: 50 }, () => s.next(row(), []))
    }
    expect(draw(7)).toEqual(draw(7))
    expect(draw(7)).not.toEqual(draw(8))
  })

  it('suppressed ids are never chosen', () => {
    const r = row()
    let best = 0
    for (let i = 1; i < V; i++) if (r[i] > r[best]) best = i
    expect(new Sampler({ temperature: 0 }, [], 1).next(row(), [best])).not.toBe(best)
  })

  it('top-k 1 is greedy even when sampling', () => {
    const greedyId = new Sampler({ temperature: 0 }, [], 1).next(row(), [])
    const s = new Sampler({ temperature: 1, topK: 1 }, [], 3)
    for (let i = 0; i < 10; i++) expect(s.next(row(), [])).toBe(greedyId)
  })
})

// OpenAI's definition (no transformers counterpart): logit[t] -= frequency × count(t) + presence ×
// (count(t) > 0), count over the generated tokens only; checked by hand on the golden scores.
describe('frequency and presence penalties', () => {
  it('subtract frequency × count + presence from each generated token, nothing else', () => {
    const r = scores.slice(0, V)
    native().applyProcessors(r, {
      frequencyPenalty: 0.5,
      presencePenalty: 0.25,
      generated: Int32Array.from([3, 3, 5, 3]),
      history: Int32Array.from([7, 8]), // the prompt: only the repetition penalty reads it
    })
    for (let i = 0; i < V; i++) {
      const want = scores[i] - (i === 3 ? 0.5 * 3 + 0.25 : i === 5 ? 0.5 + 0.25 : 0)
      expect(r[i], `logit ${i}`).toBe(Math.fround(want))
    }
  })

  it('the sampler counts what it generated, not the prompt', () => {
    const r = scores.slice(0, V)
    let best = 0
    for (let i = 1; i < V; i++) if (r[i] > r[best]) best = i
    // The argmax is in the prompt: not penalized; once generated, a presence penalty of 2 moves
    // greedy decoding off it whenever the runner-up is within 2.
    const s = new Sampler({ temperature: 0, presencePenalty: 2 }, [best, best], 1)
    expect(s.next(scores.slice(0, V), [])).toBe(best)
    const second = [...r.keys()].filter((i) => i !== best).reduce((a, b) => (r[b] > r[a] ? b : a))
    const next = s.next(scores.slice(0, V), [])
    expect(next).toBe(r[best] - 2 < r[second] ? second : best)
  })

  it('are refused outside [-2, 2]', () => {
    expect(() => validateSampling({ frequencyPenalty: 2.5 })).toThrow(/frequencyPenalty must be in \[-2, 2\]/)
    expect(() => validateSampling({ presencePenalty: Number.NaN })).toThrow(/presencePenalty/)
  })
})

// Log-probabilities are the model's own (log-softmax of the logits as they came, computed here in
// double precision), whatever the processors then did to the row.
describe('logprobs, allowed ids and logit bias', () => {
  const logSoftmax = (r: Float32Array) => {
    const m = Math.max(...r)
    const lse = m + Math.log(r.reduce((s, x) => s + Math.exp(x - m), 0))
    return Array.from(r, (x) => x - lse)
  }

  it('report the chosen token and the k most likely, most likely first', () => {
    const raw = scores.slice(0, V)
    const want = logSoftmax(raw)
    const order = [...want.keys()].sort((a, b) => want[b] - want[a] || a - b)
    const s = new Sampler({ temperature: 1.3, topK: 5, repetitionPenalty: 1.2, logprobs: 4 }, [order[0]], 9)
    for (let step = 0; step < 5; step++) {
      const choice = s.choose(scores.slice(0, V), [])
      expect(choice.top?.map((t) => t.id)).toEqual(order.slice(0, 4))
      for (const [j, t] of (choice.top ?? []).entries()) expect(t.logprob).toBeCloseTo(want[order[j]], 5)
      expect(choice.logprob).toBeCloseTo(want[choice.id], 5)
    }
    expect(new Sampler({ temperature: 0 }, [], 1).choose(scores.slice(0, V), []).logprob).toBeUndefined()
    expect(new Sampler({ temperature: 0, logprobs: 0 }, [], 1).choose(scores.slice(0, V), []).top).toEqual([])
  })

  it("a given token's (tokenLogprobs, a prompt's) are reported as a sampled one's; bad ids throw", () => {
    const raw = scores.slice(0, V)
    const want = logSoftmax(raw)
    const order = [...want.keys()].sort((a, b) => want[b] - want[a] || a - b)
    for (const id of [order[0], order[V - 1], 7]) {
      const got = tokenLogprobs(raw, id, 3)
      expect(got.logprob).toBeCloseTo(want[id], 5)
      expect(got.top.map((t) => t.id)).toEqual(order.slice(0, 3))
      const sampled = new Sampler({ temperature: 0, logprobs: 3 }, [], 1).choose(scores.slice(0, V), [])
      expect(got.top).toEqual(sampled.top)
    }
    expect(raw).toEqual(scores.slice(0, V)) // the row is left as it was
    expect(tokenLogprobs(raw, 0, 0).top).toEqual([])
    const out = new Float32Array(2)
    const ids = new Int32Array(1)
    for (const bad of [-1, V, 1.5, Number.NaN])
      expect(() => native().tokenLogprobs(raw, bad, out, ids)).toThrow(/id must be a token id/)
    expect(() => native().tokenLogprobs(raw, 0, new Float32Array(3), ids)).toThrow(/1 \+ logprobIds.length/)
    expect(() => native().tokenLogprobs(new Float32Array(0), 0, out, ids)).toThrow(/id must be a token id/)
  })

  it('only allowed ids are chosen, however unlikely', () => {
    const allow = new Uint32Array(Math.ceil(V / 32))
    const ids = [3, 40, V - 1]
    for (const id of ids) allow[id >> 5] |= 1 << (id & 31)
    const s = new Sampler({ temperature: 2 }, [], 5)
    for (let i = 0; i < 50; i++) expect(ids).toContain(s.choose(scores.slice(0, V), [], allow).id)
    // Past the bitset's last word, nothing is allowed.
    const short = new Uint32Array(1)
    short[0] = 1 << 7
    expect(new Sampler({ temperature: 0 }, [], 1).choose(scores.slice(0, V), [], short).id).toBe(7)
  })

  it('a logit bias is added to the raw logit, before temperature', () => {
    const r = scores.slice(0, V)
    native().applyProcessors(r, {
      temperature: 2,
      biasIds: Int32Array.from([4, 9]),
      biasValues: Float32Array.from([1.5, -3]),
    })
    for (let i = 0; i < V; i++) {
      const want = (scores[i] + (i === 4 ? 1.5 : i === 9 ? -3 : 0)) / 2
      expect(r[i], `logit ${i}`).toBeCloseTo(want, 5)
    }
    const worst = [...scores.slice(0, V).keys()].reduce((a, b) => (scores[b] < scores[a] ? b : a))
    expect(
      new Sampler({ temperature: 0, logitBias: { [worst]: 100 } }, [], 1).next(scores.slice(0, V), []),
    ).toBe(worst)
    expect(() => validateSampling({ logitBias: { 3: 101 } })).toThrow(
      /logitBias values must be numbers in \[-100, 100\]/,
    )
    expect(() => validateSampling({ logprobs: 21 })).toThrow(/logprobs must be an integer from 0 to 20/)
  })
})
