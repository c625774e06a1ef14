// An encoder served (bert-tiny, a BertForSequenceClassification): /v1/embeddings judged by the
// official `openai` client against what core's feature-extraction pipeline computes (mean pooling +
// L2, the default for a folder without sentence-transformers settings), /classify against the
// text-classification pipeline, and the edges: dimensions, token ids, bad inputs, the other kind's
// routes, metrics, auth.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LabelScore, type Pipeline, pipeline } from '../../src/core/pipelines/index.js'
import { normalizeL2 } from '../../src/core/pipelines/pooling.js'
import { removeTempDirs } from '../helpers/cli.js'
import {
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  C,
  writeEncoderFolder,
} from '../helpers/encoder-variants.js'
import { golden, maxAbsDiff } from '../helpers/fixtures.js'
import {
  metric,
  postJson,
  SERVED,
  spawnServe,
  startEncoderServer,
  startServer,
  type TestEncoderServer,
} from '../helpers/server.js'

const texts = ['Transformers v2 is revolutionary!', 'This is terrible.', 'A short one']

let server: TestEncoderServer
let extract: Pipeline<'feature-extraction'>
let classify: Pipeline<'text-classification'>

beforeAll(async () => {
  server = await startEncoderServer(BERT_TINY)
  extract = await pipeline('feature-extraction', BERT_TINY, { threads: 1 })
  classify = await pipeline('text-classification', BERT_TINY, { threads: 1 })
})

afterAll(async () => {
  await server?.close()
  extract?.dispose()
  classify?.dispose()
  removeTempDirs()
})

/** The pipeline's vectors, one per text. */
async function reference(input: string[]): Promise<Float32Array[]> {
  const t = await extract(input, { pooling: 'mean', normalize: true })
  return input.map((_, i) => t.data.slice(i * C, (i + 1) * C))
}

const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v))
const tokenCount = (input: string[]) => input.reduce((n, t) => n + server.model.tokenizer.encode(t).length, 0)

/** The 400 a request gets, as the openai client raises it. */
async function badRequest(p: Promise<unknown>) {
  const err = await p.catch((e: unknown) => e)
  expect(err).toBeInstanceOf(OpenAI.BadRequestError)
  return err as InstanceType<typeof OpenAI.BadRequestError>
}

describe('/v1/embeddings', () => {
  it("float vectors equal the feature-extraction pipeline's (mean + L2), in OpenAI's shape", async () => {
    const r = await server.client.embeddings.create({ model: SERVED, input: texts, encoding_format: 'float' })
    const want = await reference(texts)
    expect(r.object).toBe('list')
    expect(r.model).toBe(SERVED)
    expect(r.data.map((d) => [d.object, d.index])).toEqual(texts.map((_, i) => ['embedding', i]))
    r.data.forEach((d, i) => {
      expect(d.embedding).toHaveLength(C)
      expect(maxAbsDiff(d.embedding, want[i])).toBeLessThanOrEqual(1e-5)
    })
    expect(r.usage).toEqual({ prompt_tokens: tokenCount(texts), total_tokens: tokenCount(texts) })
  })

  it('base64 (what the client asks for by default and decodes) carries the same float32 values', async () => {
    const decoded = await server.client.embeddings.create({ model: SERVED, input: texts })
    const floats = await server.client.embeddings.create({
      model: SERVED,
      input: texts,
      encoding_format: 'float',
    })
    decoded.data.forEach((d, i) => {
      expect(d.embedding).toEqual(floats.data[i].embedding)
    })
    const raw = await (
      await postJson(server, '/v1/embeddings', { input: 'A short one', encoding_format: 'base64' })
    ).json()
    const bytes = Buffer.from(raw.data[0].embedding, 'base64')
    expect(bytes.length).toBe(C * 4)
    const [want] = await reference(['A short one'])
    const got = Array.from({ length: C }, (_, i) => bytes.readFloatLE(i * 4))
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5)
  })

  it('dimensions keeps the leading ones, re-normalised; more than the model has is a 400', async () => {
    const r = await server.client.embeddings.create({
      model: SERVED,
      input: texts,
      dimensions: 16,
      encoding_format: 'float',
    })
    const want = await reference(texts)
    r.data.forEach((d, i) => {
      expect(d.embedding).toHaveLength(16)
      expect(norm(d.embedding)).toBeCloseTo(1, 5)
      expect(maxAbsDiff(d.embedding, normalizeL2(want[i].slice(0, 16)))).toBeLessThanOrEqual(1e-5)
    })
    for (const dimensions of [C + 1, 0]) {
      const err = await badRequest(server.client.embeddings.create({ model: SERVED, input: 'x', dimensions }))
      expect(err.param).toBe('dimensions')
      expect(err.message).toMatch(`between 1 and ${C}`)
    }
  })

  it('token ids (the sequence /tokenize gives, special tokens included) equal the text', async () => {
    const ids = await Promise.all(
      texts.map(
        async (prompt) => (await (await postJson(server, '/tokenize', { prompt })).json()).tokens as number[],
      ),
    )
    expect(ids[0]).toEqual(server.model.tokenizer.encode(texts[0]))
    const byText = await server.client.embeddings.create({
      model: SERVED,
      input: texts,
      encoding_format: 'float',
    })
    const byIds = await server.client.embeddings.create({
      model: SERVED,
      input: ids,
      encoding_format: 'float',
    })
    const one = await server.client.embeddings.create({
      model: SERVED,
      input: ids[1],
      encoding_format: 'float',
    })
    byIds.data.forEach((d, i) => {
      expect(maxAbsDiff(d.embedding, byText.data[i].embedding)).toBeLessThanOrEqual(1e-6)
    })
    expect(one.data).toHaveLength(1)
    expect(maxAbsDiff(one.data[0].embedding, byText.data[1].embedding)).toBeLessThanOrEqual(1e-6)
    expect(byIds.usage.prompt_tokens).toBe(byText.usage.prompt_tokens)
  })

  it('bad input types, empty input, ids outside the vocabulary and too-long input are 400s naming input', async () => {
    const long = 'word '.repeat(200)
    const longTokens = server.model.tokenizer.encode(long).length
    const cases: [unknown, RegExp][] = [
      [5, /input must be a string, an array of strings, an array of token ids/],
      [{ text: 'x' }, /input must be/],
      [['a', 1], /input must be/],
      [[1.5], /input must be/],
      ['', /input must not be an empty string/],
      [['a', ''], /input\[1\] must not be an empty string/],
      [[], /input must not be empty/],
      [[[101, 102], []], /input\[1\] is empty/],
      [[101, 500, 102], /token id 500 is outside the vocabulary/],
      [long, new RegExp(`maximum input length is 128 tokens.*input has ${longTokens} tokens`)],
    ]
    for (const [input, message] of cases) {
      const res = await postJson(server, '/v1/embeddings', { model: SERVED, input })
      expect(res.status, JSON.stringify(input)).toBe(400)
      const { error } = await res.json()
      expect(error.param, JSON.stringify(input)).toBe('input')
      expect(error.message, JSON.stringify(input)).toMatch(message)
    }
    const missing = await (await postJson(server, '/v1/embeddings', { model: SERVED })).json()
    expect(missing.error).toMatchObject({ param: 'input', code: 'missing_required_parameter' })
    const format = await postJson(server, '/v1/embeddings', { input: 'x', encoding_format: 'int8' })
    expect((await format.json()).error.param).toBe('encoding_format')
    await expect(server.client.embeddings.create({ model: 'gpt-4', input: 'x' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    )
  })

  it('concurrent requests (sharing passes) get what they get alone; metrics count them', async () => {
    const promptBefore = await metric(server, 'kiln:prompt_tokens_total')
    const successBefore = await metric(server, 'kiln:request_success_total', 'finished_reason="stop"')
    const passesBefore = server.encoder.stats.passes
    const want = await reference(texts)
    const rounds = 4
    const all = await Promise.all(
      Array.from({ length: rounds * texts.length }, (_, k) =>
        server.client.embeddings.create({
          model: SERVED,
          input: texts[k % texts.length],
          encoding_format: 'float',
        }),
      ),
    )
    all.forEach((r, k) => {
      expect(maxAbsDiff(r.data[0].embedding, want[k % texts.length])).toBeLessThanOrEqual(1e-5)
    })
    expect(server.encoder.stats.passes - passesBefore).toBeLessThanOrEqual(all.length)
    expect((await metric(server, 'kiln:prompt_tokens_total')) - promptBefore).toBe(rounds * tokenCount(texts))
    expect(
      (await metric(server, 'kiln:request_success_total', 'finished_reason="stop"')) - successBefore,
    ).toBe(all.length)
  })

  it('/v1/models gives the longest input as max_model_len', async () => {
    const models = await (await server.fetch('/v1/models')).json()
    expect(models.data[0]).toMatchObject({ id: SERVED, max_model_len: 128 })
  })
})

describe('/classify', () => {
  it("labels and probabilities equal the text-classification pipeline's, in vLLM's shape", async () => {
    const res = await postJson(server, '/classify', { model: SERVED, input: texts })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({ object: 'list', model: SERVED })
    expect(body.id).toMatch(/^classify-/)
    expect(body.usage).toMatchObject({ prompt_tokens: tokenCount(texts), total_tokens: tokenCount(texts) })
    const want = (await classify(texts, { topK: null })) as LabelScore[][]
    const labels = ['NEGATIVE', 'POSITIVE']
    body.data.forEach(
      (d: { index: number; label: string; probs: number[]; num_classes: number }, i: number) => {
        expect(d.index).toBe(i)
        expect(d.num_classes).toBe(2)
        expect(d.label).toBe(want[i][0].label)
        const byLabel = Object.fromEntries(want[i].map((s) => [s.label, s.score]))
        expect(
          maxAbsDiff(
            d.probs,
            labels.map((l) => byLabel[l]),
          ),
        ).toBeLessThanOrEqual(1e-5)
      },
    )
    const one = await (await postJson(server, '/classify', { input: texts[1] })).json()
    expect(one.data).toHaveLength(1)
    expect(one.data[0].probs).toEqual(body.data[1].probs)
    const bad = await (await postJson(server, '/classify', { input: [1, 2] })).json()
    expect(bad.error.param).toBe('input')
  })
})

describe("the other kind's routes", () => {
  it('an encoder server refuses completions and chat with a 400 that says what it serves', async () => {
    const completion = await badRequest(server.client.completions.create({ model: SERVED, prompt: 'Hi' }))
    expect(completion.message).toMatch(/embedding and classification model .*not \/v1\/completions/)
    const chat = await badRequest(
      server.client.chat.completions.create({ model: SERVED, messages: [{ role: 'user', content: 'Hi' }] }),
    )
    expect(chat.message).toMatch(/it serves \/v1\/embeddings and \/classify, not \/v1\/chat\/completions/)
  })

  it('a generator server refuses embeddings and /classify', async () => {
    const gen = await startServer({ modelPath: golden('gpt2-tiny'), maxSeqs: 1 })
    try {
      const err = await badRequest(gen.client.embeddings.create({ model: SERVED, input: 'x' }))
      expect(err.message).toMatch(/is a text generator.*not \/v1\/embeddings/)
      expect((await postJson(gen, '/classify', { input: 'x' })).status).toBe(400)
    } finally {
      await gen.close()
    }
  })

  it('a bare encoder embeds but refuses /classify; the API key guards both', async () => {
    const tensors = bertTinyTensors()
    for (const name of [...tensors.keys()]) if (name.startsWith('classifier.')) tensors.delete(name)
    const dir = writeEncoderFolder({ ...bertTinyConfig(), architectures: ['BertModel'] }, tensors)
    const bare = await startEncoderServer(dir, { apiKey: 'sesame' })
    try {
      const r = await bare.client.embeddings.create({ model: SERVED, input: texts, encoding_format: 'float' })
      const want = await reference(texts)
      r.data.forEach((d, i) => {
        expect(maxAbsDiff(d.embedding, want[i])).toBeLessThanOrEqual(1e-5)
      })
      const auth = { authorization: 'Bearer sesame' }
      const refused = await (await postJson(bare, '/classify', { input: 'x' }, auth)).json()
      expect(refused.error.message).toMatch(/no sequence-classification head/)
      expect((await postJson(bare, '/v1/embeddings', { input: 'x' })).status).toBe(401)
      expect((await postJson(bare, '/classify', { input: 'x' })).status).toBe(401)
      expect((await bare.fetch('/health')).status).toBe(200)
    } finally {
      await bare.close()
    }
  })
})

describe('kiln serve -m ENCODER', () => {
  it('finds the model is an encoder and serves embeddings; ready, request and shutdown events', async () => {
    const s = spawnServe(['-m', BERT_TINY, '--port', '0', '--json', '--threads', '1'])
    try {
      const url = await s.ready
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })
      const r = await client.embeddings.create({ model: 'bert-tiny', input: texts })
      const want = await reference(texts)
      r.data.forEach((d, i) => {
        expect(maxAbsDiff(d.embedding, want[i])).toBeLessThanOrEqual(1e-5)
      })
      s.child.kill('SIGTERM')
      expect(await s.exited).toEqual({ code: 0, signal: null })
      expect(s.events()).toEqual([
        { event: 'ready', url, model: 'bert-tiny', max_model_len: 128 },
        expect.objectContaining({
          event: 'request',
          path: '/v1/embeddings',
          status: 200,
          prompt_tokens: r.usage.prompt_tokens,
        }),
        { event: 'shutdown', signal: 'SIGTERM', requests: 1, drained: true },
      ])
    } finally {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    }
  })
})
