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
    for (const seqLen of [0, 1])
      await expect(loadTrainData(file, chatml, { seqLen })).rejects.toThrow('seqLen must be an integer ≥ 2')
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

  it('cuts a long text into consecutive windows of seqLen tokens, each token once and in order', async () => {
    const doc = Array.from({ length: 60 }, (_, i) => `Sentence ${i} of a long document.`).join(' ')
    const file = tmp('book.txt', `${doc}\n\nA short one.\n`)
    const data = await loadTrainData(file, chatml, { seqLen: 32 })
    const whole = [...chatml.encode(doc), chatml.tokenToId('<|im_end|>') as number]
    expect(whole.length % 32).toBeGreaterThan(1) // (a last window of one token is dropped: below)
    const windows = data.examples.filter((e) => e.where.startsWith(`${file}:1 `))
    expect(windows).toHaveLength(Math.ceil(whole.length / 32))
    expect(windows.flatMap((e) => e.ids)).toEqual(whole)
    windows.forEach((e, k) => {
      const end = Math.min(whole.length, (k + 1) * 32) - 1
      expect(e.where).toBe(`${file}:1 (tokens ${k * 32}-${end})`)
      expect(e.labels).toEqual(e.ids)
    })
    expect(data.examples.at(-1)?.where).toBe(`${file}:3`)
    expect(data.windowed).toBe(1)
    expect(data.truncated).toBe(0)
    expect(data.tokens).toBe(whole.length + data.examples.at(-1)!.ids.length)
  })

  it('drops a last window of a single token, which predicts nothing', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.'
    const n = chatml.encode(text).length + 1 // and EOS
    const data = await loadTrainData(tmp('one.jsonl', jsonl([{ text }])), chatml, { seqLen: n - 1 })
    expect(data.examples.map((e) => e.ids.length)).toEqual([n - 1])
    expect(data.windowed).toBe(1)
  })

  it('holds out whole records: the windows of one document are all on one side', async () => {
    const docs = Array.from({ length: 10 }, (_, i) => ({
      text: `Document ${i}: ${'many words here '.repeat(20)}`,
    }))
    const file = tmp('docs.jsonl', jsonl(docs))
    const data = await loadTrainData(file, chatml, { seqLen: 16, evalSplit: 0.2 })
    const record = (where: string) => where.replace(/ \(tokens .*\)$/, '')
    const train = new Set(data.examples.map((e) => record(e.where)))
    const held = new Set(data.eval?.map((e) => record(e.where)))
    expect(data.windowed).toBe(10)
    expect(held.size).toBe(2)
    expect(train.size).toBe(8)
    expect([...held].some((w) => train.has(w))).toBe(false)
    // The same records as a split of the unwindowed data (the split is by record, whatever seqLen).
    const one = await loadTrainData(file, chatml, { seqLen: 4096, evalSplit: 0.2 })
    expect(new Set(one.eval?.map((e) => e.where))).toEqual(held)
  })

  it('tokenizes only the first seqLen tokens of a 10 MB prompt/completion or chat record', async () => {
    // Before, either was tokenized whole (~400 MiB and seconds for the record, ~2.6 GiB and a
    // minute for the chat message's offsets); now each costs about what it keeps.
    const filler = 'All work and no play. '.repeat(460_000)
    const file = tmp(
      'huge.jsonl',
      jsonl([
        { prompt: 'Q', completion: filler },
        {
          messages: [
            { role: 'user', content: 'Summarize.' },
            { role: 'assistant', content: filler },
          ],
        },
      ]),
    )
    const t0 = performance.now()
    const data = await loadTrainData(file, chatml, { seqLen: 64 })
    const ms = performance.now() - t0
    const completion = chatml.encode(filler, { addSpecialTokens: false })
    const prompt = chatml.encode('Q')
    expect(data.examples[0].ids).toEqual([...prompt, ...completion].slice(0, 64))
    const rendered = chatml.applyChatTemplate([
      { role: 'user', content: 'Summarize.' },
      { role: 'assistant', content: filler },
    ])
    expect(data.examples[1].ids).toEqual(chatml.encode(rendered, { addSpecialTokens: false }).slice(0, 64))
    expect(data.truncated).toBe(2)
    // Reading and rendering 20 MB is most of it; tokenizing whole took 4 s for the first alone.
    expect(ms).toBeLessThan(3000)
  })
})
