import { describe, expect, it } from 'vitest'
import { FormatError, InputError } from '../../../../src/core/errors.js'
import { BatchPlan, IGNORE, loadTrainData } from '../../../../src/core/train/data/index.js'
import { goldenTokenizer, useTmp } from './helpers.js'

const chatml = goldenTokenizer('tok-chatml')
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n')

describe('loadTrainData', () => {
  const tmp = useTmp()

  it('tokenizes every kind of record, truncates, and skips what truncation leaves unlabelled', async () => {
    const file = tmp(
      'mixed.jsonl',
      jsonl([
        { text: 'short text' },
        { prompt: 'a very long prompt that fills the whole sequence', completion: 'x' },
        {
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'yo' },
          ],
        },
        { prompt: 'Q', completion: 'a completion much longer than the sequence length' },
      ]),
    )
    const progress: number[][] = []
    const data = await loadTrainData(file, chatml, {
      seqLen: 20,
      onProgress: (d, t) => progress.push([d, t]),
    })
    expect(data.records).toBe(4)
    expect(data.examples.map((e) => e.where)).toEqual([`${file}:1`, `${file}:3`, `${file}:4`])
    expect(data.skipped).toEqual([
      { where: `${file}:2`, reason: 'no token the loss counts within the first 20' },
    ])
    expect(data.truncated).toBe(3) // the long prompt, the chat (its template text), the long completion
    for (const e of data.examples) {
      expect(e.ids.length).toBeLessThanOrEqual(20)
      expect(e.labels).toHaveLength(e.ids.length)
    }
    expect(data.examples[2].labels[0]).toBe(IGNORE)
    expect(data.tokens).toBe(data.examples.reduce((n, e) => n + e.ids.length, 0))
    expect(progress.at(-1)).toEqual([4, 4])
  })

  it('holds out an eval split, the same whatever the order of calls', async () => {
    const file = tmp('many.jsonl', jsonl(Array.from({ length: 30 }, (_, i) => ({ text: `document ${i}` }))))
    const a = await loadTrainData(file, chatml, { seqLen: 32, evalSplit: 0.2 })
    const b = await loadTrainData(file, chatml, { seqLen: 32, evalSplit: 0.2 })
    expect(a.eval).toHaveLength(6)
    expect(a.examples).toHaveLength(24)
    expect(b.eval?.map((e) => e.where)).toEqual(a.eval?.map((e) => e.where))
    const train = new Set(a.examples.map((e) => e.where))
    expect(a.eval?.some((e) => train.has(e.where))).toBe(false)
    // Training examples keep the file's order; the batch plan shuffles them.
    const lines = a.examples.map((e) => Number(e.where.split(':').at(-1)))
    expect(lines).toEqual([...lines].sort((x, y) => x - y))
    const plan = new BatchPlan(a.examples, { batchSize: 4, seqLen: 32, seed: 3 })
    expect(plan.stepsPerEpoch(2)).toBe(3)
  })

  it('names file:line for a record it cannot use', async () => {
    const file = tmp('bad.jsonl', jsonl([{ text: 'ok' }, { text: 'fine' }, { prompt: 1, completion: 'x' }]))
    const err = await loadTrainData(file, chatml, { seqLen: 8 }).catch((e) => e)
    expect(err).toBeInstanceOf(FormatError)
    expect(err.message).toBe(`${file}:3: "prompt" must be a string beside "completion", got a number`)
  })

  it('refuses data with nothing to learn within seqLen, naming the option', async () => {
    const file = tmp('long.jsonl', jsonl([{ prompt: 'a long prompt of many tokens', completion: 'x' }]))
    const err = await loadTrainData(file, chatml, { seqLen: 2 }).catch((e) => e)
    expect(err).toBeInstanceOf(InputError)
    expect(err.options).toEqual(['seqLen'])
    await expect(loadTrainData(file, chatml, { seqLen: 0 })).rejects.toThrow(
      'seqLen must be a positive integer',
    )
  })

  it('reads plain text documents', async () => {
    const file = tmp('corpus.txt', 'first document\n\nsecond document\n')
    const data = await loadTrainData(file, chatml, { seqLen: 64 })
    expect(data.examples.map((e) => chatml.decode(e.ids))).toEqual([
      'first document<|im_end|>',
      'second document<|im_end|>',
    ])
    expect(data.examples.every((e) => e.labels.every((l, i) => l === e.ids[i]))).toBe(true)
  })
})
