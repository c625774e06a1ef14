// The OpenAI routes of a real server (buildServer over the default model, on a free port) judged by
// the official `openai` client, and their answers compared with what the library generates for the
// same prompt alone: completions, chat, streaming, n and seeds, stop strings, batching through
// HTTP, clients that go away, /tokenize, /detokenize and /metrics.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultModelPath } from '../../src/core/default-model.js'
import type { GenerateOptions, GenerationResult } from '../../src/core/runtime/generate.js'
import { loadModel, type Model } from '../../src/core/runtime/model.js'
import { removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { eosLlama, goldenOf } from '../helpers/generation.js'
import { eventually, metric, postJson, SERVED, startServer, type TestServer } from '../helpers/server.js'

let server: TestServer
/** A second copy of the model for the library's answers (the server's scheduler holds the first). */
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

/** What the library generates for `prompt` alone (one at a time: the model runs one generation). */
async function alone(prompt: string | number[], options: GenerateOptions): Promise<GenerationResult> {
  const it = reference.generate(prompt, options)
  let step = await it.next()
  while (!step.done) step = await it.next()
  return step.value
}

const openAiReason = (r: GenerationResult) => (r.finishReason === 'length' ? 'length' : 'stop')

/** Fields the openai client's types do not know (vLLM's), sent as they are. */
const extra = (fields: Record<string, unknown>) => fields as object

describe('/v1/models', () => {
  it('lists the one served model, and retrieves it by name', async () => {
    const page = await server.client.models.list()
    expect(page.data).toHaveLength(1)
    expect(page.data[0]).toMatchObject({ id: SERVED, object: 'model', owned_by: 'kiln' })
    expect((await server.client.models.retrieve(SERVED)).id).toBe(SERVED)
    await expect(server.client.models.retrieve('gpt-4')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})

describe('/v1/completions', () => {
  const prompt = 'Once upon a time'

  it('answers what the library generates, and streams the same text', async () => {
    const expected = await alone(prompt, { temperature: 0, maxNewTokens: 24 })
    const whole = await server.client.completions.create({
      model: SERVED,
      prompt,
      max_tokens: 24,
      temperature: 0,
    })
    expect(whole.id).toMatch(/^cmpl-/)
    expect(whole.object).toBe('text_completion')
    expect(whole.model).toBe(SERVED)
    expect(whole.choices).toEqual([
      { index: 0, text: expected.text, logprobs: null, finish_reason: openAiReason(expected) },
    ])
    expect(whole.usage).toEqual({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
      total_tokens: expected.promptTokens + expected.completionTokens,
    })

    const stream = await server.client.completions.create({
      model: SERVED,
      prompt,
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    const reasons: (string | null)[] = []
    let usage: OpenAI.CompletionUsage | null | undefined
    const ids = new Set<string>()
    for await (const chunk of stream) {
      ids.add(chunk.id)
      if (chunk.usage) {
        expect(chunk.choices).toEqual([])
        usage = chunk.usage
        continue
      }
      for (const c of chunk.choices) {
        text += c.text
        if (c.finish_reason) reasons.push(c.finish_reason)
      }
    }
    expect([...ids]).toEqual([expect.stringMatching(/^cmpl-/)])
    expect(text).toBe(whole.choices[0].text)
    expect(reasons).toEqual([whole.choices[0].finish_reason])
    expect(usage).toEqual(whole.usage)
  })

  it('takes several prompts, as text or token ids; choices come prompt by prompt, n each', async () => {
    const ids = reference.tokenizer.encode('The potter')
    const a = await alone(prompt, { temperature: 0, maxNewTokens: 8 })
    const b = await alone(ids, { temperature: 0, maxNewTokens: 8 })
    const r = await server.client.completions.create({
      model: SERVED,
      prompt: [prompt, 'The potter'],
      n: 2,
      max_tokens: 8,
      temperature: 0,
    })
    expect(r.choices.map((c) => [c.index, c.text])).toEqual([
      [0, a.text],
      [1, a.text],
      [2, b.text],
      [3, b.text],
    ])
    expect(r.usage?.prompt_tokens).toBe(a.promptTokens + b.promptTokens) // each prompt once, whatever n
    const byIds = await server.client.completions.create({
      model: SERVED,
      prompt: ids,
      max_tokens: 8,
      temperature: 0,
    })
    expect(byIds.choices[0].text).toBe(b.text)
  })

  it('n = 3 with a seed: three sampled choices, the same on a second call', async () => {
    const ask = () =>
      server.client.completions.create({
        model: SERVED,
        prompt,
        n: 3,
        seed: 42,
        temperature: 1,
        max_tokens: 16,
      })
    const [first, second] = [await ask(), await ask()]
    expect(first.choices.map((c) => c.index)).toEqual([0, 1, 2])
    expect(second.choices.map((c) => c.text)).toEqual(first.choices.map((c) => c.text))
    expect(new Set(first.choices.map((c) => c.text)).size).toBeGreaterThan(1) // seed, seed + 1, seed + 2
    // As the library numbers a batch: choice i samples with seed + i.
    expect(first.choices[1].text).toBe(
      (await alone(prompt, { seed: 43, temperature: 1, maxNewTokens: 16 })).text,
    )
  })

  it('stops at a stop string, which the text leaves out, streamed or not', async () => {
    const full = await alone(prompt, { temperature: 0, maxNewTokens: 32 })
    const stop = full.text.slice(12, 15)
    const cut = full.text.slice(0, full.text.indexOf(stop))
    const whole = await server.client.completions.create({
      model: SERVED,
      prompt,
      stop,
      max_tokens: 32,
      temperature: 0,
    })
    expect(whole.choices[0]).toMatchObject({ text: cut, finish_reason: 'stop' })
    const stream = await server.client.completions.create({
      model: SERVED,
      prompt,
      stop: [stop, 'never appears'],
      max_tokens: 32,
      temperature: 0,
      stream: true,
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices.map((c) => c.text).join('')
    expect(text).toBe(cut)
  })

  it('passes the frequency and presence penalties on as the library takes them', async () => {
    const options = { temperature: 0, maxNewTokens: 24, frequencyPenalty: 1.5, presencePenalty: 0.5 }
    const expected = await alone(prompt, options)
    const r = await server.client.completions.create({
      model: SERVED,
      prompt,
      max_tokens: 24,
      temperature: 0,
      frequency_penalty: 1.5,
      presence_penalty: 0.5,
    })
    expect(r.choices[0].text).toBe(expected.text)
  })

  it('runs eight concurrent greedy streams, each as its prompt alone (batch invariance)', async () => {
    const prompts = Array.from(
      { length: 8 },
      (_, i) => `${['Once', 'The potter', 'In the', 'Clay'][i % 4]} ${i}`,
    )
    const expected: GenerationResult[] = []
    for (const p of prompts) expected.push(await alone(p, { temperature: 0, maxNewTokens: 20 }))
    const texts = await Promise.all(
      prompts.map(async (p) => {
        const stream = await server.client.completions.create({
          model: SERVED,
          prompt: p,
          max_tokens: 20,
          temperature: 0,
          stream: true,
        })
        let text = ''
        for await (const chunk of stream) text += chunk.choices.map((c) => c.text).join('')
        return text
      }),
    )
    expect(texts).toEqual(expected.map((r) => r.text))
  })
})

describe('/v1/chat/completions', () => {
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Tell me about clay.' },
  ]

  it("answers what the library generates over the model's chat template", async () => {
    const text = reference.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })
    const expected = await alone(text, { addSpecialTokens: false, temperature: 0, maxNewTokens: 20 })
    const r = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      max_tokens: 20,
      temperature: 0,
    })
    expect(r.id).toMatch(/^chatcmpl-/)
    expect(r.object).toBe('chat.completion')
    expect(r.choices).toHaveLength(1)
    expect(r.choices[0].message).toMatchObject({ role: 'assistant', content: expected.text })
    expect(r.choices[0].finish_reason).toBe(openAiReason(expected))
    expect(r.usage).toMatchObject({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
    })
    // Content parts are text joined by newlines; max_completion_tokens is max_tokens' newer name.
    const parts = await server.client.chat.completions.create({
      model: SERVED,
      messages: [messages[0], { role: 'user', content: [{ type: 'text', text: 'Tell me about clay.' }] }],
      max_completion_tokens: 20,
      temperature: 0,
    })
    expect(parts.choices[0].message.content).toBe(expected.text)
  })

  it('streams the role first, then the content, then the finish reason', async () => {
    const whole = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      max_tokens: 12,
      temperature: 0,
    })
    const stream = await server.client.chat.completions.create({
      model: SERVED,
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks[0].choices[0].delta.role).toBe('assistant')
    for (const c of chunks) expect(c.object).toBe('chat.completion.chunk')
    const content = chunks.flatMap((c) => c.choices.map((x) => x.delta.content ?? '')).join('')
    expect(content).toBe(whole.choices[0].message.content)
    const finishes = chunks.flatMap((c) =>
      c.choices.filter((x) => x.finish_reason).map((x) => x.finish_reason),
    )
    expect(finishes).toEqual([whole.choices[0].finish_reason])
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    expect(last.usage).toEqual(whole.usage)
  })
})

describe('EOS and ignore_eos', () => {
  it('EOS ends a choice with finish_reason stop; ignore_eos (vLLM) runs on to max_tokens', async () => {
    // A llama-tiny whose EOS is its first greedy token for golden prompt 0.
    const { dir } = eosLlama()
    const prompt = goldenOf('llama-tiny').single[0].input_ids
    const eos = await startServer({ modelPath: dir, maxSeqs: 1 })
    try {
      const ask = (fields: object) =>
        eos.client.completions.create({ model: SERVED, prompt, max_tokens: 10, temperature: 0, ...fields })
      const stopped = await ask({})
      expect(stopped.choices[0]).toMatchObject({ text: '', finish_reason: 'stop' })
      expect(stopped.usage?.completion_tokens).toBe(1) // the EOS token
      const on = await ask(extra({ ignore_eos: true }))
      expect(on.choices[0].finish_reason).toBe('length')
      expect(on.usage?.completion_tokens).toBe(10)
    } finally {
      await eos.close()
    }
  })
})

describe("a chat template given in place of the model's (--chat-template)", () => {
  it('makes a model without one chat, rendering with its special tokens', async () => {
    const template =
      "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
    const plain = await startServer({ modelPath: golden('gpt2-tiny'), maxSeqs: 1 })
    const templated = await startServer({
      modelPath: golden('gpt2-tiny'),
      maxSeqs: 1,
      chatTemplate: template,
    })
    try {
      const messages = [{ role: 'user' as const, content: 'Hi there' }]
      const err = await plain.client.chat.completions
        .create({ model: SERVED, messages })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.BadRequestError)
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('no_chat_template')
      const tok = templated.model.tokenizer
      const text = `${tok.bosToken ?? ''}[user] Hi there\n[assistant] `
      const r = await (await postJson(templated, '/tokenize', { messages })).json()
      expect(r.tokens).toEqual(tok.encode(text, { addSpecialTokens: false }))
      const chat = await templated.client.chat.completions.create({
        model: SERVED,
        messages,
        max_tokens: 6,
        temperature: 0,
      })
      expect(chat.usage?.prompt_tokens).toBe(r.count)
    } finally {
      await plain.close()
      await templated.close()
    }
  })
})

describe('clients that go away', () => {
  // Long enough (EOS held off) to be running still when the client leaves.
  const long = {
    model: SERVED,
    prompt: 'Once upon a time',
    max_tokens: 1900,
    temperature: 0,
    ...extra({ min_tokens: 1900 }),
  }

  it('a stream aborted by the client frees its slot within a second; the server goes on serving', async () => {
    const abortsBefore = await metric(server, 'kiln:request_success_total', 'finished_reason="abort"')
    const tokensBefore = await metric(server, 'kiln:generation_tokens_total')
    const controller = new AbortController()
    const stream = await server.client.completions.create(
      { ...long, stream: true },
      { signal: controller.signal },
    )
    let chunks = 0
    for await (const _ of stream) {
      if (++chunks < 3) continue
      controller.abort()
      break
    }
    const freed = await eventually(
      async () => (await metric(server, 'kiln:num_requests_running')) === 0,
      1000,
    )
    expect(freed).toBe(true)
    expect(await metric(server, 'kiln:request_success_total', 'finished_reason="abort"')).toBe(
      abortsBefore + 1,
    )
    expect((await metric(server, 'kiln:generation_tokens_total')) - tokensBefore).toBeLessThan(1900)
    const after = await server.client.completions.create({ model: SERVED, prompt: 'Clay', max_tokens: 4 })
    expect(after.choices).toHaveLength(1)
  })

  it('so does a non-streaming client that hangs up', async () => {
    const controller = new AbortController()
    const pending = server.fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(long),
      signal: controller.signal,
    })
    expect(
      await eventually(async () => (await metric(server, 'kiln:num_requests_running')) === 1, 2000),
    ).toBe(true)
    controller.abort()
    await expect(pending).rejects.toThrow()
    expect(
      await eventually(async () => (await metric(server, 'kiln:num_requests_running')) === 0, 1000),
    ).toBe(true)
  })
})

describe('/tokenize, /detokenize, /metrics', () => {
  it('tokenize and detokenize round-trip as the tokenizer does', async () => {
    const text = 'The potter shaped the clay, twice.'
    const tok = await (await postJson(server, '/tokenize', { prompt: text })).json()
    const ids = reference.tokenizer.encode(text)
    expect(tok).toEqual({ count: ids.length, max_model_len: server.scheduler.contextLength, tokens: ids })
    const back = await (await postJson(server, '/detokenize', { model: SERVED, tokens: ids })).json()
    expect(back).toEqual({ prompt: reference.tokenizer.decode(ids) })
    const messages = [{ role: 'user', content: 'Hi' }]
    const chat = await (await postJson(server, '/tokenize', { messages })).json()
    expect(chat.tokens).toEqual(
      reference.tokenizer.encode(
        reference.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }),
        {
          addSpecialTokens: false,
        },
      ),
    )
  })

  it('/metrics has the kiln: names, in Prometheus text', async () => {
    const r = await server.fetch('/metrics')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await r.text()
    for (const name of [
      'kiln:num_requests_running',
      'kiln:num_requests_waiting',
      'kiln:kv_cache_usage_perc',
      'kiln:prompt_tokens_total',
      'kiln:generation_tokens_total',
      'kiln:request_success_total',
      'kiln:time_to_first_token_seconds_bucket',
      'kiln:inter_token_latency_seconds_bucket',
      'kiln:e2e_request_latency_seconds_bucket',
      'kiln:iteration_tokens_total_bucket',
    ])
      expect(text).toContain(`${name}{`)
    expect(await metric(server, 'kiln:request_success_total', 'finished_reason="length"')).toBeGreaterThan(0)
    expect(await metric(server, 'kiln:generation_tokens_total')).toBe(server.scheduler.stats.generationTokens)
  })

  it('counts prefix cache hits when two prompts share whole KV blocks', async () => {
    const { blockSize } = server.scheduler.stats
    const shared = Array.from({ length: 3 * blockSize }, (_, i) => 97 + (i % 26))
    const before = await metric(server, 'kiln:prefix_cache_hits_total')
    for (const tail of [[40], [41]])
      await server.client.completions.create({ model: SERVED, prompt: [...shared, ...tail], max_tokens: 1 })
    const hits = (await metric(server, 'kiln:prefix_cache_hits_total')) - before
    expect(hits).toBeGreaterThanOrEqual(3 * blockSize)
    expect(await metric(server, 'kiln:prefix_cache_queries_total')).toBe(server.scheduler.stats.prefixQueries)
  })
})
