// Constrained decoding, log-probabilities, logit bias and echo through HTTP, judged by the official
// `openai` client and by Ajv (the JSON-schema validator): every constrained answer that finishes
// parses and matches its schema, streamed or not, alone or beside others.
import { Ajv } from 'ajv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultModelPath } from '../../src/core/default-model.js'
import type { GenerateOptions, GenerationResult } from '../../src/core/runtime/generate.js'
import { loadModel, type Model } from '../../src/core/runtime/model.js'
import { removeTempDirs } from '../helpers/cli.js'
import { postJson, SERVED, startServer, type TestServer } from '../helpers/server.js'

let server: TestServer
let reference: Model

beforeAll(async () => {
  server = await startServer({ maxSeqs: 8 })
  reference = loadModel(defaultModelPath(), { threads: 1 })
})

afterAll(async () => {
  await server?.close()
  reference?.dispose()
  removeTempDirs()
})

async function alone(prompt: string | number[], options: GenerateOptions): Promise<GenerationResult> {
  const it = reference.generate(prompt, options)
  let step = await it.next()
  while (!step.done) step = await it.next()
  return step.value
}

// Bounded everywhere (string lengths, array sizes, number digits), so every answer can finish.
const person = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 6 },
    age: { type: 'integer' },
    kind: { enum: ['cat', 'dog', null] },
    tags: { type: 'array', items: { type: 'string', maxLength: 3 }, maxItems: 2 },
    home: {
      anyOf: [{ type: 'null' }, { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] }],
    },
  },
  required: ['name', 'age', 'kind'],
  additionalProperties: false,
}
const validate = new Ajv({ strict: false }).compile(person)
const messages = [{ role: 'user' as const, content: 'Describe a pet as JSON.' }]
const responseFormat = {
  type: 'json_schema' as const,
  json_schema: { name: 'person', schema: person, strict: true },
}

describe('response_format', () => {
  it('json_schema: every choice parses and matches the schema, at any temperature', async () => {
    for (const temperature of [0, 0.8, 1.5]) {
      const r = await server.client.chat.completions.create({
        model: SERVED,
        messages,
        temperature,
        seed: 11,
        n: temperature ? 6 : 1,
        max_tokens: 400,
        response_format: responseFormat,
      })
      for (const c of r.choices) {
        expect(c.finish_reason).toBe('stop')
        const value = JSON.parse(c.message.content ?? '')
        expect(validate(value), `${c.message.content}: ${JSON.stringify(validate.errors)}`).toBe(true)
      }
    }
  })

  it('json_schema streams the same text, and runs as it would alone', async () => {
    const body = {
      model: SERVED,
      messages,
      temperature: 1,
      seed: 5,
      max_tokens: 400,
      response_format: responseFormat,
    }
    const whole = await server.client.chat.completions.create(body)
    const stream = await server.client.chat.completions.create({ ...body, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toBe(whole.choices[0].message.content)
    const prompt = reference.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })
    const lib = await alone(reference.tokenizer.encode(prompt, { addSpecialTokens: false }), {
      temperature: 1,
      seed: 5,
      maxNewTokens: 400,
      responseFormat: { type: 'json_schema', schema: person },
    })
    expect(lib.text).toBe(text)
  })

  it('json_object: an object that parses, on completions too', async () => {
    const r = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      temperature: 0.7,
      seed: 3,
      n: 4,
      max_tokens: 300,
      response_format: { type: 'json_object' },
    })
    const finished = r.choices.filter((c) => c.finish_reason === 'stop')
    expect(finished.length).toBeGreaterThan(0)
    for (const c of finished) {
      const value = JSON.parse(c.message.content ?? '')
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true)
    }
    const res = await postJson(server, '/v1/completions', {
      model: SERVED,
      prompt: 'JSON:',
      max_tokens: 300,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: person } },
    })
    const completion = (await res.json()) as { choices: { text: string; finish_reason: string }[] }
    expect(completion.choices[0].finish_reason).toBe('stop')
    expect(validate(JSON.parse(completion.choices[0].text))).toBe(true)
  })
})

describe('logprobs', () => {
  it('chat: each token with its log-probability and the most likely alternatives', async () => {
    const r = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      temperature: 0,
      max_tokens: 12,
      logprobs: true,
      top_logprobs: 3,
    })
    const content = r.choices[0].logprobs?.content ?? []
    expect(content).toHaveLength(r.usage?.completion_tokens ?? -1)
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(3)
      // Greedy picks the most likely token.
      expect(t.token).toBe(t.top_logprobs[0].token)
      expect(t.logprob).toBe(t.top_logprobs[0].logprob)
      expect(t.top_logprobs[0].logprob).toBeGreaterThanOrEqual(t.top_logprobs[1].logprob)
      expect(t.top_logprobs.reduce((s, x) => s + Math.exp(x.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6)
      // The token is its bytes as text, or written byte by byte where they are part of a character.
      const text = Buffer.from(t.bytes ?? []).toString('utf8')
      if (!text.includes('\ufffd')) expect(t.token).toBe(text)
      else expect(t.token).toMatch(/^bytes:(\\x[0-9a-f]{2})+$/)
    }
    // The tokens' bytes make the text.
    const bytes = content.flatMap((t) => t.bytes ?? [])
    expect(
      Buffer.from(bytes)
        .toString('utf8')
        .startsWith(r.choices[0].message.content ?? '\u0000'),
    ).toBe(true)
    // Streamed, the same entries arrive with the chunks.
    const stream = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      temperature: 0,
      max_tokens: 12,
      logprobs: true,
      top_logprobs: 3,
      stream: true,
    })
    const streamed = []
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []))
    expect(streamed).toEqual(content)
  })

  it("are the log-softmax of the model's logits at each position", async () => {
    const prompt = 'Once upon a time'
    const r = await server.client.completions.create({
      model: SERVED,
      prompt,
      temperature: 0.9,
      seed: 4,
      max_tokens: 10,
      logprobs: 3,
    })
    const lib = await alone(prompt, { temperature: 0.9, seed: 4, maxNewTokens: 10 })
    expect(r.choices[0].text).toBe(lib.text)
    const ids = [...reference.tokenizer.encode(prompt, { addSpecialTokens: true }), ...lib.tokens]
    const V = reference.config.vocabSize
    const logits = await reference.logits(ids.slice(0, -1))
    const got = r.choices[0].logprobs?.token_logprobs ?? []
    expect(got).toHaveLength(lib.tokens.length)
    lib.tokens.forEach((id, i) => {
      const row = logits.subarray(
        (ids.length - lib.tokens.length - 1 + i) * V,
        (ids.length - lib.tokens.length + i) * V,
      )
      const m = Math.max(...row)
      const lse = m + Math.log(row.reduce((sum, x) => sum + Math.exp(x - m), 0))
      expect(got[i]).toBeCloseTo(row[id] - lse, 3)
    })
  })

  it('completions: parallel arrays with text offsets; echo puts the prompt first', async () => {
    const prompt = 'Once upon a time'
    const r = await server.client.completions.create({
      model: SERVED,
      prompt,
      temperature: 0,
      max_tokens: 8,
      logprobs: 2,
    })
    const lp = r.choices[0].logprobs
    expect(lp?.tokens).toHaveLength(8)
    expect(lp?.token_logprobs).toHaveLength(8)
    expect(lp?.top_logprobs?.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2)).toBe(
      true,
    )
    expect(lp?.text_offset?.[0]).toBe(0)
    const echoed = await server.client.completions.create({
      model: SERVED,
      prompt,
      temperature: 0,
      max_tokens: 8,
      echo: true,
    })
    expect(echoed.choices[0].text).toBe(prompt + r.choices[0].text)
    const stream = await server.client.completions.create({
      model: SERVED,
      prompt,
      temperature: 0,
      max_tokens: 8,
      echo: true,
      stream: true,
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? ''
    expect(text).toBe(echoed.choices[0].text)
  })
})

describe('many choices', () => {
  it('n = 16 shares one abort signal without a listener warning', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const r = await server.client.completions.create({
        model: SERVED,
        prompt: 'Hi',
        max_tokens: 2,
        n: 16,
        seed: 1,
      })
      expect(r.choices).toHaveLength(16)
      await new Promise((res) => setImmediate(res))
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('logit_bias', () => {
  it('+100 makes greedy decoding pick that token; -100 keeps it out', async () => {
    const prompt = 'Once upon a time'
    const base = await alone(prompt, { temperature: 0, maxNewTokens: 6 })
    const forced = 300
    const r = await server.client.completions.create({
      model: SERVED,
      prompt,
      temperature: 0,
      max_tokens: 6,
      logit_bias: { [forced]: 100 },
      logprobs: 0,
    })
    expect(r.choices[0].logprobs?.tokens).toHaveLength(6)
    const lib = await alone(prompt, { temperature: 0, maxNewTokens: 6, logitBias: { [forced]: 100 } })
    expect(lib.tokens).toEqual(Array(6).fill(forced))
    expect(r.choices[0].text).toBe(lib.text)
    const banned = await alone(prompt, {
      temperature: 0,
      maxNewTokens: 6,
      logitBias: { [base.tokens[0]]: -100 },
    })
    expect(banned.tokens).not.toContain(base.tokens[0])
  })
})
