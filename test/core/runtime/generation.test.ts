// Generation as a library user runs it (model.generate / generateMany): greedy runs against transformers,
// batching, stop strings, EOS and minNewTokens, sampling options, the streamed text, and option errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  defaultModelPath,
  type GenerateOptions,
  type GenerationEvent,
  type GenerationResult,
  KilnError,
  loadModel,
  type Model,
} from '../../../src/index.js'
import { removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'
import { emojiGpt2, eosLlama, goldenOf } from '../../helpers/generation.js'

const LMS = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']
/**
 * Byte-level BPE models, whose streamed text equals transformers' decode of all ids. The
 * SentencePiece-style llamas (ByteFallback) can differ where a run of byte tokens is invalid UTF-8:
 * transformers decodes the whole run to U+FFFDs, while the stream keeps what it already emitted
 * (emitted text cannot be taken back); their token ids and final text are what must match.
 */
const BYTE_LEVEL = new Set(['default', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny'])

// Loaded once: the golden models by name, the default model, and the edited copies.
const models: Record<string, Model> = {}
let eos: number
beforeAll(() => {
  for (const name of LMS) models[name] = loadModel(golden(name))
  models.default = loadModel(defaultModelPath())
  models['llama-tiny, 1 thread'] = loadModel(golden('llama-tiny'), { threads: 1 })
  models['gpt2-emoji'] = loadModel(emojiGpt2())
  const e = eosLlama()
  eos = e.eos
  models['llama-eos'] = loadModel(e.dir)
})
afterAll(() => {
  for (const m of Object.values(models)) m.dispose()
  removeTempDirs()
})

async function drain<T>(
  gen: AsyncGenerator<GenerationEvent, T>,
): Promise<{ events: GenerationEvent[]; value: T }> {
  const events: GenerationEvent[] = []
  for (;;) {
    const step = await gen.next()
    if (step.done) return { events, value: step.value }
    events.push(step.value)
  }
}

/** One prompt: its events, its result, and the text a front end streamed (the events' texts). */
async function generate(model: string, prompt: string, options: GenerateOptions) {
  const { events, value: result } = await drain(models[model].generate(prompt, options))
  return { events, result, streamed: events.map((e) => e.text).join('') }
}

const generateMany = (model: string, prompts: string[], options: GenerateOptions) =>
  drain(models[model].generateMany(prompts, options))

/** What a library call raised (fails the test when it succeeds). */
async function failure(model: string, prompt: string, options: GenerateOptions): Promise<KilnError> {
  const err = await generate(model, prompt, options).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KilnError)
  return err as KilnError
}

const greedy = (maxNewTokens = 24): GenerateOptions => ({ temperature: 0, maxNewTokens })

/** Timings differ run to run; everything else of a result must not. */
function withoutTimings(r: GenerationResult): Omit<GenerationResult, 'timings'> {
  const { timings: _, ...rest } = r
  return rest
}

// With the u flag a surrogate only matches when it is alone: half of a character outside the BMP.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * A front end prints each event's text as it comes, so each must be whole characters: no half of a
 * surrogate pair, and no U+FFFD standing for a UTF-8 sequence split between tokens (unless the final
 * text has U+FFFDs of its own: the model generated invalid bytes).
 */
function expectWholeCharacters(events: GenerationEvent[], final: string): void {
  for (const e of events) {
    expect(e.text, JSON.stringify(e.text)).not.toMatch(LONE_SURROGATE)
    if (!final.includes('\ufffd')) expect(e.text, JSON.stringify(e.text)).not.toContain('\ufffd')
  }
}

describe('greedy generation matches transformers on the golden models', () => {
  for (const name of LMS) {
    const g = goldenOf(name)
    g.prompts.forEach((prompt, i) => {
      it(`${name} prompt ${i}`, async () => {
        const { events, result, streamed } = await generate(name, prompt, greedy())
        expect(result.tokens).toEqual(g.single[i].greedy_new_ids)
        expect(result.promptTokens).toBe(g.single[i].input_ids.length)
        expect(result.completionTokens).toBe(24)
        expect(result.finishReason).toBe('length')
        expect(result.text).toBe(g.single[i].greedy_text)
        expect(events.map((e) => e.id)).toEqual(result.tokens)
        expect(events.every((e) => e.seq === 0)).toBe(true)
        if (BYTE_LEVEL.has(name)) expect(streamed).toBe(result.text)
        expectWholeCharacters(events, result.text)
      })
    })
  }
})

describe('batching over ragged prompts', () => {
  for (const name of LMS) {
    it(`${name}: a batch equals single runs and transformers' greedy ids`, async () => {
      const g = goldenOf(name)
      const { events, value: batch } = await generateMany(name, g.prompts, greedy())
      const singles: GenerationResult[] = []
      for (const prompt of g.prompts) singles.push((await generate(name, prompt, greedy())).result)
      expect(batch.map(withoutTimings)).toEqual(singles.map(withoutTimings))
      expect(batch.map((r) => r.tokens)).toEqual(g.batched.greedy_new_ids)
      expect(batch.map((r) => r.tokens)).toEqual(g.single.map((s) => s.greedy_new_ids))
      g.prompts.forEach((_, i) => {
        const mine = events.filter((e) => e.seq === i)
        expect(mine.map((e) => e.id)).toEqual(batch[i].tokens)
        if (BYTE_LEVEL.has(name)) expect(mine.map((e) => e.text).join('')).toBe(batch[i].text)
      })
    })
  }

  it('prompts of different lengths finish independently', async () => {
    const prompts = ['Once', 'Once upon a time there was a']
    const { value: batch } = await generateMany('default', prompts, greedy(7))
    expect(batch.map((r) => r.completionTokens)).toEqual([7, 7])
    expect(batch[0].promptTokens).toBeLessThan(batch[1].promptTokens)
    for (const [i, prompt] of prompts.entries()) {
      const { result } = await generate('default', prompt, greedy(7))
      expect(batch[i].tokens).toEqual(result.tokens)
      expect(batch[i].text).toBe(result.text)
    }
  })

  it('a sequence that stops at EOS leaves the others running', async () => {
    // Prompt 0 hits llama-eos's EOS at once; prompt 1 never generates that token.
    const g = goldenOf('llama-tiny')
    const { events, value: batch } = await generateMany('llama-eos', g.prompts, greedy())
    expect(batch[0]).toMatchObject({ finishReason: 'eos', tokens: [eos], text: '' })
    expect(batch[1]).toMatchObject({ finishReason: 'length', tokens: g.single[1].greedy_new_ids })
    expect(events.filter((e) => e.seq === 0)).toHaveLength(1)
  })
})

describe('stop strings', () => {
  // llama3-tiny's greedy continuation of prompt 0 is " is" × 16, then "ve" × 8.
  const g = goldenOf('llama3-tiny')
  const prompt = g.prompts[0]
  const full = g.single[0].greedy_text

  it('cuts the text before the stop string, with finishReason "stop"', async () => {
    const { result, streamed } = await generate('llama3-tiny', prompt, { ...greedy(), stop: ['ve'] })
    expect(full).toContain('ve')
    expect(result.finishReason).toBe('stop')
    expect(result.text).toBe(full.slice(0, full.indexOf('ve')))
    expect(streamed).toBe(result.text)
    expect(result.tokens).toEqual(g.single[0].greedy_new_ids.slice(0, result.tokens.length))
    expect(result.completionTokens).toBe(result.tokens.length)
    expect(result.completionTokens).toBeLessThan(24)
  })

  it('a stop string spanning tokens is never streamed, not even in part', async () => {
    const stop = ' isve'
    const expected = full.slice(0, full.indexOf(stop))
    const { result, streamed } = await generate('llama3-tiny', prompt, { ...greedy(), stop: [stop] })
    expect(streamed).toBe(expected)
    expect(result.text).toBe(expected)
    expect(result.finishReason).toBe('stop')
  })

  it('with several stop strings the earliest match wins', async () => {
    const { result, streamed } = await generate('llama3-tiny', prompt, {
      ...greedy(),
      stop: ['veve', 'is is is'],
    })
    expect(result.finishReason).toBe('stop')
    expect(result.text).toBe(full.slice(0, full.indexOf('is is is')))
    expect(streamed).toBe(result.text)
  })

  it('a stop string that never appears leaves finishReason "length"', async () => {
    const { result, streamed } = await generate('llama3-tiny', prompt, { ...greedy(), stop: ['xyzzy'] })
    expect(result.finishReason).toBe('length')
    expect(result.text).toBe(full)
    expect(result.tokens).toEqual(g.single[0].greedy_new_ids)
    expect(streamed).toBe(full)
  })
})

describe('stop strings and characters outside the BMP', () => {
  // gpt2-emoji generates "😀" × 6 for gpt2-tiny's prompt 1; a stop string of n units holds back
  // n − 1 units of text, which for 'ab' and 'abcd' ends inside an emoji.
  const g = goldenOf('gpt2-tiny')
  const prompt = g.prompts[1]

  for (const stop of ['ab', 'abc', 'abcd']) {
    it(`stop "${stop}": the stream keeps every emoji whole`, async () => {
      const { events, result, streamed } = await generate('gpt2-emoji', prompt, {
        ...greedy(6),
        stop: [stop],
      })
      expect(result.tokens).toEqual(g.single[1].greedy_new_ids.slice(0, 6))
      expect(result.text).toBe('😀'.repeat(6))
      expect(result.finishReason).toBe('length')
      expect(streamed).toBe('😀'.repeat(6))
      expectWholeCharacters(events, result.text)
    })
  }

  it('a stop string of emoji cuts before it', async () => {
    const { result, streamed } = await generate('gpt2-emoji', prompt, { ...greedy(6), stop: ['😀😀😀'] })
    expect(result.finishReason).toBe('stop')
    expect(result.text).toBe('')
    expect(result.tokens).toHaveLength(3)
    expect(streamed).toBe('')
  })
})

describe('EOS, minNewTokens and maxNewTokens', () => {
  // llama-eos: generation_config.json's EOS is the first token llama-tiny generates for prompt 0.
  const g = goldenOf('llama-tiny')

  it("stops at the model's EOS at once (finishReason 'eos'), leaving it out of the text", async () => {
    const { result, streamed } = await generate('llama-eos', g.prompts[0], greedy())
    expect(result.finishReason).toBe('eos')
    expect(result.tokens).toEqual([eos])
    expect(result.completionTokens).toBe(1)
    expect(result.text).toBe('')
    expect(streamed).toBe('')
  })

  it('minNewTokens holds EOS back', async () => {
    const { result } = await generate('llama-eos', g.prompts[0], { ...greedy(), minNewTokens: 3 })
    expect(result.completionTokens).toBeGreaterThanOrEqual(3)
    expect(result.tokens.slice(0, 3)).not.toContain(eos)
    // Past the minimum EOS may come, and ends the run where it does.
    expect(result.tokens.slice(0, -1)).not.toContain(eos)
    if (result.finishReason === 'eos') expect(result.tokens.at(-1)).toBe(eos)
    else expect(result).toMatchObject({ finishReason: 'length', completionTokens: 24 })
  })

  it("eosTokenIds overrides the model's EOS", async () => {
    const { result } = await generate('llama-eos', g.prompts[0], { ...greedy(), eosTokenIds: [] })
    expect(result.finishReason).toBe('length')
    expect(result.tokens).toEqual(g.single[0].greedy_new_ids)
  })

  it('maxNewTokens 0 generates nothing', async () => {
    const { events, result } = await generate('default', 'Once upon a time', { maxNewTokens: 0 })
    expect(result.tokens).toEqual([])
    expect(result.completionTokens).toBe(0)
    expect(result.text).toBe('')
    expect(result.finishReason).toBe('length')
    expect(events).toEqual([])
  })
})

describe('sampling options', () => {
  it('the same seed gives the same tokens; another seed other tokens', async () => {
    const sample = (seed: number) =>
      generate('default', 'Once upon a time', { maxNewTokens: 32, temperature: 1, seed })
    const a = (await sample(7)).result
    const b = (await sample(7)).result
    const c = (await sample(8)).result
    expect(b.tokens).toEqual(a.tokens)
    expect(b.text).toBe(a.text)
    expect(c.tokens).not.toEqual(a.tokens)
  })

  it('temperature 0 is greedy whatever the seed', async () => {
    const run = async (seed?: number) =>
      (await generate('default', 'Once upon a time', { ...greedy(32), seed })).result.tokens
    const unseeded = await run()
    expect(await run(1)).toEqual(unseeded)
    expect(await run(2)).toEqual(unseeded)
  })

  it('topK 1, a tiny topP and minP 1 all reduce sampling to greedy', async () => {
    const g = goldenOf('qwen2-tiny')
    const sampling: GenerateOptions = { maxNewTokens: 24, temperature: 1.5, seed: 5 }
    for (const option of [{ topK: 1 }, { topP: 0.000001 }, { minP: 1 }]) {
      const { result } = await generate('qwen2-tiny', g.prompts[1], { ...sampling, ...option })
      expect(result.tokens, JSON.stringify(option)).toEqual(g.single[1].greedy_new_ids)
    }
  })

  it('repetitionPenalty changes a repetitive greedy continuation', async () => {
    // qwen2-tiny repeats " is" greedily for prompt 0.
    const g = goldenOf('qwen2-tiny')
    const { result } = await generate('qwen2-tiny', g.prompts[0], { ...greedy(), repetitionPenalty: 5 })
    expect(result.tokens).not.toEqual(g.single[0].greedy_new_ids)
    expect(result.completionTokens).toBe(24)
  })

  it('threads 1 gives the same greedy tokens as the default', async () => {
    const g = goldenOf('llama-tiny')
    expect(models['llama-tiny, 1 thread'].threads).toBe(1)
    const { result } = await generate('llama-tiny, 1 thread', g.prompts[1], greedy())
    expect(result.tokens).toEqual(g.single[1].greedy_new_ids)
  })
})

describe('the streamed text is whole characters', () => {
  const cases: [string, string, string, GenerateOptions][] = [
    // The default model knows only its text's ASCII; sampled hot, it writes stray byte tokens: a
    // multi-byte character (seed 1 gives 'օ') and invalid sequences (each shown as U+FFFD).
    ['default model, sampled', 'default', 'Once upon a time', { temperature: 3, seed: 1, maxNewTokens: 200 }],
    ['llama-tiny (byte fallback)', 'llama-tiny', goldenOf('llama-tiny').prompts[0], greedy()],
    ['gpt2-tiny (byte level)', 'gpt2-tiny', 'naïve café 😀', { temperature: 1, seed: 1 }],
    ['qwen2-tiny (byte level)', 'qwen2-tiny', '你好，世界', { temperature: 1, seed: 2 }],
  ]
  for (const [label, model, prompt, options] of cases) {
    it(label, async () => {
      const { events, result, streamed } = await generate(model, prompt, options)
      // The case means something only if the model wrote characters of more than one byte.
      expect([...streamed].some((c) => c.codePointAt(0)! > 0x7f)).toBe(true)
      expectWholeCharacters(events, result.text)
      if (BYTE_LEVEL.has(model)) expect(streamed).toBe(result.text)
    })
  }
})

describe('option errors', () => {
  // Usage errors name the option the library's way (topP), for front ends to render as theirs.
  const cases: [GenerateOptions, string, string][] = [
    [{ topP: 2 }, 'topP', 'topP must be in (0, 1]'],
    [{ topP: 0 }, 'topP', 'topP must be in (0, 1]'],
    [{ temperature: -1 }, 'temperature', 'temperature must be ≥ 0 and finite'],
    // Past float32's range: the native sampler would see infinity, or 0.
    [{ temperature: 1e300 }, 'temperature', 'temperature must be ≥ 0 and finite'],
    [{ topP: 1e-300 }, 'topP', 'topP must be in (0, 1]'],
    [{ repetitionPenalty: 1e-46 }, 'repetitionPenalty', 'repetitionPenalty must be > 0 and finite'],
    [{ topK: 1.5 }, 'topK', 'topK must be an integer ≥ 0'],
    [{ minP: 1.5 }, 'minP', 'minP must be in [0, 1]'],
    [{ repetitionPenalty: 0 }, 'repetitionPenalty', 'repetitionPenalty must be > 0 and finite'],
    [{ maxNewTokens: -1 }, 'maxNewTokens', 'maxNewTokens must be an integer ≥ 0'],
    [{ minNewTokens: 0.5 }, 'minNewTokens', 'minNewTokens must be an integer ≥ 0'],
    [{ stop: ['ok', ''] }, 'stop', 'stop strings must not be empty'],
  ]
  for (const [options, name, message] of cases) {
    it(`${JSON.stringify(options)}: E_USAGE naming ${name}`, async () => {
      const err = await failure('default', 'Once', options)
      expect(err.code).toBe('E_USAGE')
      expect(err.message).toBe(message)
      expect(err.options).toEqual([name])
      expect(err.exitCode).toBe(2)
    })
  }

  it('an option error leaves the model free for the next generation', async () => {
    await failure('default', 'Once', { topP: 2 })
    const { result } = await generate('default', 'Once', greedy(3))
    expect(result.completionTokens).toBe(3)
  })

  it('an empty prompt on a model without BOS is an input error', async () => {
    const err = await failure('gpt2-tiny', '', greedy())
    expect(err.code).toBe('E_INPUT')
    expect(err.message).toBe('prompt is empty (no tokens)')
  })
})
