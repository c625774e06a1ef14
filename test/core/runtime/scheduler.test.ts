// The continuous-batching scheduler: sequences admitted while others run, prefill chunks and decode
// rows sharing steps, more sequences than a step's rows, cancellation, queue limits and draining.
// Every sequence's tokens must equal what it gives alone (transformers' greedy ids where golden).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CancelledError,
  type GenerateOptions,
  type GenerationEvent,
  KilnError,
  loadModel,
  type Model,
  QueueFullError,
  Scheduler,
  SchedulerClosedError,
  type StepInfo,
} from '../../../src/index.js'
import { golden } from '../../helpers/fixtures.js'
import { goldenOf } from '../../helpers/generation.js'

const g = goldenOf('llama-tiny')
const greedy = (maxNewTokens = 24): GenerateOptions => ({ temperature: 0, maxNewTokens })
const prompts = [
  ...g.prompts,
  'Once upon a time',
  'The',
  'A much longer prompt that takes a few prefill chunks of rows',
]

let model: Model
let small: Model // 4 rows per step: prompts prefill over several steps, decode takes turns
const alone: number[][] = []
beforeAll(async () => {
  model = loadModel(golden('llama-tiny'))
  small = loadModel(golden('llama-tiny'), { chunkSize: 4 })
  for (const p of prompts) alone.push(await tokensOf(model, p))
})
afterAll(() => {
  model.dispose()
  small.dispose()
})

async function tokensOf(m: Model, prompt: string, o = greedy()): Promise<number[]> {
  const it = m.generate(prompt, o)
  for (;;) {
    const step = await it.next()
    if (step.done) return step.value.tokens
  }
}

async function collect(events: AsyncIterable<GenerationEvent>): Promise<number[]> {
  const ids: number[] = []
  for await (const e of events) ids.push(e.id)
  return ids
}

describe('scheduler: every sequence as it runs alone', () => {
  it('the golden prompts alone give transformers greedy ids', () => {
    g.prompts.forEach((_, i) => {
      expect(alone[i]).toEqual(g.single[i].greedy_new_ids)
    })
  })

  for (const [name, m, maxSeqs] of [
    ['2 slots for 5 requests', () => model, 2],
    ['4 rows per step, 5 slots (chunked prefill beside decode, decode taking turns)', () => small, 5],
  ] as const)
    it(name, async () => {
      const s = new Scheduler(m(), { maxSeqs })
      const steps: StepInfo[] = []
      s.onStep = (i) => steps.push(i)
      try {
        const seqs = prompts.map((p) => s.submit(p, greedy()))
        const results = await Promise.all(seqs.map((q) => q.result))
        expect(results.map((r) => r.tokens)).toEqual(alone)
        expect(s.stats).toMatchObject({ running: 0, waiting: 0 })
        expect(s.stats.generationTokens).toBe(alone.reduce((n, t) => n + t.length, 0))
        expect(Math.max(...steps.map((x) => x.rows))).toBeLessThanOrEqual(m().maxRows)
        // Some step carried prefill and decode rows together.
        expect(steps.some((x) => x.prefillRows > 0 && x.decodeRows > 0)).toBe(true)
      } finally {
        s.close()
      }
    })

  it('64 sampled sequences at once, each with its own seed, equal their runs alone', async () => {
    const opts = (i: number): GenerateOptions => ({
      temperature: 0.9,
      topP: 0.95,
      seed: 1000 + i,
      maxNewTokens: 12,
    })
    const texts = Array.from({ length: 64 }, (_, i) => `${prompts[i % prompts.length]} ${i}`)
    const solo: number[][] = []
    for (const [i, t] of texts.entries()) solo.push(await tokensOf(model, t, opts(i)))
    const s = new Scheduler(model, { maxSeqs: 64 })
    try {
      const together = await Promise.all(texts.map((t, i) => s.submit(t, opts(i)).result))
      expect(together.map((r) => r.tokens)).toEqual(solo)
    } finally {
      s.close()
    }
  })

  it('admits a request while another is decoding, and both stream as alone', async () => {
    const s = new Scheduler(model, { maxSeqs: 2 })
    try {
      const a = s.submit(prompts[0], greedy())
      const first: number[] = []
      const it = a.events[Symbol.asyncIterator]()
      for (let i = 0; i < 5; i++) first.push(((await it.next()).value as GenerationEvent).id)
      const b = s.submit(prompts[1], greedy())
      const bTokens = collect(b.events)
      const aResult = await a.result
      // b started before a finished: its first token came while a was still decoding.
      expect(b.firstTokenAt).toBeGreaterThan(0)
      expect(b.firstTokenAt).toBeLessThan(a.finishedAt)
      expect(aResult.tokens).toEqual(alone[0])
      expect(await bTokens).toEqual(alone[1])
    } finally {
      s.close()
    }
  })
})

describe('scheduler: cancellation, limits, shutdown', () => {
  it('a cancelled sequence frees its slot for the next one, within a step', async () => {
    const s = new Scheduler(model, { maxSeqs: 1 })
    try {
      const ac = new AbortController()
      const a = s.submit(prompts[0], greedy(), { signal: ac.signal })
      const b = s.submit(prompts[1], greedy())
      expect(s.stats).toMatchObject({ waiting: 2 })
      const it = a.events[Symbol.asyncIterator]()
      await it.next()
      ac.abort()
      await expect(a.result).rejects.toBeInstanceOf(CancelledError)
      await expect(collect({ [Symbol.asyncIterator]: () => it })).rejects.toBeInstanceOf(CancelledError)
      expect((await b.result).tokens).toEqual(alone[1])
      expect(s.stats).toMatchObject({ running: 0, waiting: 0, kvUsage: 0 })
      // A waiting request cancelled before it ran never takes a slot.
      const ac2 = new AbortController()
      const c = s.submit(prompts[2], greedy(), { signal: ac2.signal })
      ac2.abort()
      await expect(c.result).rejects.toBeInstanceOf(CancelledError)
      expect(s.stats.waiting).toBe(0)
    } finally {
      s.close()
    }
  })

  it('refuses a request past maxQueue with QueueFullError', async () => {
    const s = new Scheduler(model, { maxSeqs: 1, maxQueue: 1 })
    try {
      const a = s.submit(prompts[0], greedy(8))
      await a.events[Symbol.asyncIterator]().next() // a runs: the queue is empty
      const b = s.submit(prompts[1], greedy(8))
      expect(() => s.submit(prompts[2], greedy(8))).toThrow(QueueFullError)
      expect((await b.result).tokens).toEqual(alone[1].slice(0, 8))
    } finally {
      await s.close()
    }
    // The queue is what waits beyond the free slots: with no queue at all, idle slots still take requests.
    const noQueue = new Scheduler(model, { maxSeqs: 2, maxQueue: 0 })
    try {
      const both = [noQueue.submit(prompts[0], greedy(4)), noQueue.submit(prompts[1], greedy(4))]
      expect(() => noQueue.submit(prompts[2], greedy(4))).toThrow(QueueFullError)
      expect((await Promise.all(both.map((q) => q.result))).map((r) => r.tokens)).toEqual([
        alone[0].slice(0, 4),
        alone[1].slice(0, 4),
      ])
    } finally {
      await noQueue.close()
    }
  })

  it('drain() lets running work finish and refuses new work', async () => {
    const s = new Scheduler(model, { maxSeqs: 2 })
    try {
      const a = s.submit(prompts[0], greedy(6))
      const drained = s.drain()
      expect(() => s.submit(prompts[1], greedy())).toThrow(SchedulerClosedError)
      await drained
      expect((await a.result).tokens).toEqual(alone[0].slice(0, 6))
    } finally {
      s.close()
    }
  })

  it('holds the model: a second scheduler or generate() waits for close()', async () => {
    const s = new Scheduler(model, { maxSeqs: 1 })
    expect(() => new Scheduler(model)).toThrow(KilnError)
    const busy = await model
      .generate('x', greedy(1))
      .next()
      .then(
        () => undefined,
        (e: KilnError) => e.code,
      )
    expect(busy).toBe('E_BUSY')
    s.close()
    expect(await tokensOf(model, prompts[0], greedy(3))).toEqual(alone[0].slice(0, 3))
  })

  it('maxNewTokens 0 finishes at once without a step; bad options and prompts throw before queueing', async () => {
    const s = new Scheduler(model, { maxSeqs: 1, contextLength: 16 })
    try {
      const r = await s.submit(prompts[0], greedy(0)).result
      expect(r).toMatchObject({ tokens: [], completionTokens: 0, finishReason: 'length' })
      expect(s.stats.steps).toBe(0)
      expect(() => s.submit('x', { topP: 2 })).toThrow(/topP must be in \(0, 1\]/)
      expect(() => s.submit('word '.repeat(40), greedy())).toThrow(/the context is 16 positions/)
      expect(() => s.submit([], greedy())).toThrow(/prompt is empty/)
      expect(s.stats.waiting).toBe(0)
    } finally {
      s.close()
    }
  })
})

describe('scheduler: the paged KV pool', () => {
  it('preempts the newest sequence when blocks run short, and it still ends as alone', async () => {
    // 6 blocks of 16 positions for 5 sequences of up to 24 + 24 positions: they cannot all fit.
    const s = new Scheduler(model, { maxSeqs: 5, contextLength: 64, kvBlocks: 6 })
    try {
      const results = await Promise.all(prompts.map((p) => s.submit(p, greedy()).result))
      expect(results.map((r) => r.tokens)).toEqual(alone)
      expect(s.stats.preemptions).toBeGreaterThan(0)
      expect(s.stats).toMatchObject({ running: 0, waiting: 0, kvUsage: 0, kvBlocks: 6 })
    } finally {
      s.close()
    }
  })

  it('refuses a pool smaller than one whole context', () => {
    expect(() => new Scheduler(model, { maxSeqs: 2, contextLength: 64, kvBlocks: 3 })).toThrow(
      /kvBlocks must hold at least one whole context: 4 blocks of 16 positions \(got 3\)/,
    )
    // ...and gave the model back
    new Scheduler(model).close()
  })

  it('sizes the pool by bytes: as many whole blocks as fit', () => {
    const c = model.config
    const perBlock = c.numLayers * 2 * c.numKvHeads * 16 * c.headDim * 4 // keys and values, f32
    expect(model.kvBytesPerBlock).toBe(perBlock)
    const s = new Scheduler(model, { maxSeqs: 2, contextLength: 64, kvMemory: 7 * perBlock + perBlock / 2 })
    expect(s.stats.kvBlocks).toBe(7)
    s.close()
    expect(() => new Scheduler(model, { maxSeqs: 2, contextLength: 64, kvMemory: 3 * perBlock })).toThrow(
      new RegExp(
        `kvMemory must hold at least one whole context: 4 blocks of 16 positions, ${4 * perBlock} bytes`,
      ),
    )
    expect(() => new Scheduler(model, { kvMemory: perBlock - 1 })).toThrow(/kvMemory holds no KV block/)
    expect(() => new Scheduler(model, { kvBlocks: 8, kvMemory: 8 * perBlock })).toThrow(
      /give kvBlocks or kvMemory, not both/,
    )
    new Scheduler(model).close()
  })

  it('a prompt sharing full blocks with an earlier one takes them from the cache, with the same tokens', async () => {
    const system = 'You are a helpful assistant who answers briefly and politely, always. '.repeat(2)
    const turns = [`${system}Question one?`, `${system}Something else entirely, and longer?`]
    const cold: number[][] = []
    const off = new Scheduler(model, { maxSeqs: 1, prefixCache: false })
    try {
      for (const t of turns) cold.push((await off.submit(t, greedy(8)).result).tokens)
      expect(off.stats.prefixHits).toBe(0)
    } finally {
      off.close()
    }
    const s = new Scheduler(model, { maxSeqs: 1 })
    const steps: StepInfo[] = []
    s.onStep = (i) => steps.push(i)
    try {
      const first = await s.submit(turns[0], greedy(8)).result
      const prefillFirst = steps.reduce((n, x) => n + x.prefillRows, 0)
      expect(s.stats.cachedBlocks).toBeGreaterThan(0) // its full blocks stay cached, idle
      steps.length = 0
      const second = await s.submit(turns[1], greedy(8)).result
      const prefillSecond = steps.reduce((n, x) => n + x.prefillRows, 0)
      expect([first.tokens, second.tokens]).toEqual(cold)
      const shared = model.tokenizer.encode(system).length
      expect(s.stats.prefixHits).toBeGreaterThanOrEqual(16 * Math.floor((shared - 16) / 16))
      expect(prefillSecond).toBe(second.promptTokens - s.stats.prefixHits)
      expect(prefillFirst).toBe(first.promptTokens)
      expect(s.stats.prefixQueries).toBe(first.promptTokens + second.promptTokens)
      // A follow-up turn holding the first whole exchange reuses its generated tokens' blocks too.
      const followUp = [
        ...(await s
          .submit(turns[0], greedy(40))
          .result.then((r) => [...model.tokenizer.encode(turns[0]), ...r.tokens])),
      ]
      const hitsBefore = s.stats.prefixHits
      await s.submit([...followUp, 13], greedy(2)).result
      expect(s.stats.prefixHits - hitsBefore).toBe(16 * Math.floor(followUp.length / 16))
      expect(s.stats.kvUsage).toBe(0)
    } finally {
      s.close()
    }
  })
})
