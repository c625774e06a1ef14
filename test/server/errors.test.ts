// Bad requests and refusals of a real server, as OpenAI's clients read them: one status and one
// {"error": {message, type, param, code}} body naming the HTTP field, never a crash or a hang.
// Options named the library's way in core (topP) come back as fields (top_p).
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { postJson, SERVED, startServer, type TestServer } from '../helpers/server.js'

let server: TestServer

beforeAll(async () => {
  // llama-tiny: 256 positions, a chat template, BOS added to text prompts.
  server = await startServer({ modelPath: golden('llama-tiny'), maxSeqs: 4 })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

/** A request that must fail with `status`, one OpenAI error body, and `param`. */
async function refused(
  pathname: string,
  body: unknown,
  status: number,
  param: string | null,
): Promise<ErrorBody> {
  const r = await postJson(server, pathname, body)
  const json = (await r.json()) as ErrorBody
  expect(r.status, JSON.stringify(json)).toBe(status)
  expect(Object.keys(json)).toEqual(['error'])
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type'])
  expect(json.error.param).toBe(param)
  expect(json.error.message.length).toBeGreaterThan(10)
  expect(json.error.message).not.toContain('\n')
  return json
}

const completion = (fields: Record<string, unknown>) => ({
  model: SERVED,
  prompt: 'Hello',
  max_tokens: 4,
  ...fields,
})
const chat = (fields: Record<string, unknown>) => ({
  model: SERVED,
  messages: [{ role: 'user', content: 'Hello' }],
  max_tokens: 4,
  ...fields,
})

describe('out-of-range options name their HTTP field', () => {
  it('top_p: 2 is a 400 with param top_p, as the openai client reads it', async () => {
    const err = await server.client.completions
      .create({ model: SERVED, prompt: 'Hello', top_p: 2 })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    const bad = err as InstanceType<typeof OpenAI.BadRequestError>
    expect(bad.status).toBe(400)
    expect(bad.param).toBe('top_p')
    expect(bad.type).toBe('invalid_request_error')
    expect(bad.message).toMatch(/top_p must be in \(0, 1\]/)
    expect(bad.message).not.toMatch(/topP/)
  })

  it.each([
    [{ temperature: -1 }, 'temperature'],
    [{ top_k: -2 }, 'top_k'],
    [{ min_p: 1.5 }, 'min_p'],
    [{ repetition_penalty: 0 }, 'repetition_penalty'],
    [{ frequency_penalty: 3 }, 'frequency_penalty'],
    [{ presence_penalty: -2.5 }, 'presence_penalty'],
    [{ max_tokens: -1 }, 'max_tokens'],
    [{ min_tokens: -1 }, 'min_tokens'],
    [{ n: 0 }, 'n'],
    [{ n: 17 }, 'n'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ stop: '' }, 'stop'],
    [{ n: 1e9 }, 'n'],
    [{ max_tokens: 1e12 }, 'max_tokens'],
  ])('completions %j → 400 %s', async (fields, param) => {
    const { error } = await refused('/v1/completions', completion(fields), 400, param)
    expect(error.message).toContain(param)
  })

  it('a request for 10,000 stop strings → 400 stop, and the server goes on', async () => {
    const stop = Array.from({ length: 10_000 }, (_, i) => `s${i}`)
    const { error } = await refused('/v1/completions', completion({ stop }), 400, 'stop')
    expect(error.message).toMatch(/at most 4 strings \(got 10000\)/)
    const ok = await postJson(server, '/v1/completions', completion({ max_tokens: 1 }))
    expect(ok.status).toBe(200)
  })

  it('chat names max_completion_tokens when the client used it', async () => {
    await refused(
      '/v1/chat/completions',
      chat({ max_tokens: undefined, max_completion_tokens: -3 }),
      400,
      'max_completion_tokens',
    )
    await refused('/v1/chat/completions', chat({ top_p: 0 }), 400, 'top_p')
  })
})

describe('wrong types and bodies', () => {
  it.each([
    ['/v1/completions', completion({ top_p: 'high' }), 'top_p', /top_p must be a number/],
    ['/v1/completions', completion({ max_tokens: 1.5 }), 'max_tokens', /max_tokens must be an integer/],
    ['/v1/completions', completion({ stream: 'yes' }), 'stream', /stream must be true or false/],
    ['/v1/completions', completion({ stop: 3 }), 'stop', /stop must be a string or an array of strings/],
    ['/v1/completions', completion({ prompt: [1.5] }), 'prompt', /prompt must be a string/],
    ['/v1/completions', { model: SERVED }, 'prompt', /prompt is required/],
    [
      '/v1/chat/completions',
      chat({ messages: 'Hello' }),
      'messages',
      /messages must be an array of messages/,
    ],
    ['/v1/chat/completions', chat({ messages: [{ content: 'Hi' }] }), 'messages[0].role', /is required/],
    [
      '/v1/chat/completions',
      chat({ messages: [{ role: 'user', content: 5 }] }),
      'messages[0].content',
      /must be/,
    ],
    ['/v1/chat/completions', chat({ messages: [] }), 'messages', /must not be empty/],
    [
      '/v1/chat/completions',
      chat({ messages: [{ role: 'wizard', content: 'Hi' }] }),
      'messages[0].role',
      /one of/,
    ],
    ['/detokenize', { tokens: ['a'] }, 'tokens[0]', /tokens\[0\] must be an integer/],
    ['/detokenize', { tokens: 'abc' }, 'tokens', /tokens must be an array of token ids/],
  ])('%s %j → 400 naming %s', async (pathname, body, param, message) => {
    const { error } = await refused(pathname, body, 400, param)
    expect(error.message).toMatch(message)
  })

  it('ignores unknown fields and nulls, as OpenAI does', async () => {
    const r = await postJson(
      server,
      '/v1/completions',
      completion({ user: 'me', frobnicate: 1, stop: null, seed: null }),
    )
    expect(r.status).toBe(200)
  })

  it('bad JSON, an empty body, a non-object body and a non-JSON content type', async () => {
    await refused('/v1/completions', '{"prompt": ', 400, null)
    await refused('/v1/completions', '[1, 2]', 400, null)
    const empty = await server.fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    })
    expect(empty.status).toBe(400)
    const text = await server.fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'a,b',
    })
    expect(text.status).toBe(415)
    expect(((await text.json()) as ErrorBody).error.message).toMatch(/JSON/)
  })

  it('an unknown route is a 404 in the same shape', async () => {
    const r = await server.fetch('/v1/images/generations', { method: 'POST' })
    expect(r.status).toBe(404)
    expect(((await r.json()) as ErrorBody).error.message).toMatch(/no route POST \/v1\/images\/generations/)
  })
})

describe('what the model cannot take', () => {
  it('an unknown model is a 404 model_not_found', async () => {
    const err = await server.client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found')
    await refused('/tokenize', { model: 'other', prompt: 'x' }, 404, 'model')
  })

  it('max_tokens beyond the context is a 400 on max_tokens; a prompt beyond it, on the prompt', async () => {
    const context = server.scheduler.contextLength
    const err = await server.client.completions
      .create({ model: SERVED, prompt: 'Hello', max_tokens: context })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('max_tokens')
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded')
    await refused('/v1/chat/completions', chat({ max_tokens: context }), 400, 'max_tokens')
    const long = Array.from({ length: context }, () => 5)
    await refused('/v1/completions', completion({ prompt: long }), 400, 'prompt')
    await refused('/v1/completions', completion({ prompt: [5, 1_000_000] }), 400, 'prompt')
    await refused('/v1/completions', completion({ prompt: [[5], []] }), 400, 'prompt[1]')
    await refused('/v1/completions', completion({ prompt: ['Hello', [5]] }), 400, 'prompt')
    // Unasked, a chat may use the rest of the context.
    const r = await server.client.chat.completions.create({
      model: SERVED,
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0,
    })
    expect(r.usage!.prompt_tokens + r.usage!.completion_tokens).toBeLessThanOrEqual(context)
  })

  it('what this server does not do is a 400 naming the field', async () => {
    const cases: [string, unknown, string][] = [
      ['/v1/chat/completions', chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), 'tools'],
      ['/v1/chat/completions', chat({ messages: [{ role: 'tool', content: 'x' }] }), 'messages[0].role'],
      [
        '/v1/chat/completions',
        chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }),
        'messages[0].content[0].type',
      ],
      ['/v1/chat/completions', chat({ echo: true }), 'echo'],
      ['/v1/completions', completion({ best_of: 3 }), 'best_of'],
      ['/v1/completions', completion({ suffix: 'x' }), 'suffix'],
    ]
    for (const [pathname, body, param] of cases) {
      const { error } = await refused(pathname, body, 400, param)
      expect(error.message).toMatch(/this server does not support/)
      expect(error.code).toBe('unsupported_parameter')
    }
    // What is accepted as OpenAI's defaults.
    const ok = await postJson(
      server,
      '/v1/chat/completions',
      chat({ response_format: { type: 'text' }, logprobs: false }),
    )
    expect(ok.status).toBe(200)
  })

  it('bad logprobs, logit_bias and response_format values are a 400 naming the field', async () => {
    const cases: [string, unknown, string, RegExp][] = [
      ['/v1/chat/completions', chat({ top_logprobs: 2 }), 'top_logprobs', /needs logprobs/],
      ['/v1/chat/completions', chat({ logprobs: true, top_logprobs: 21 }), 'top_logprobs', /0 to 20/],
      ['/v1/completions', completion({ logprobs: -1 }), 'logprobs', /0 to 20/],
      ['/v1/completions', completion({ logit_bias: { '5': 101 } }), 'logit_bias', /\[-100, 100\]/],
      ['/v1/completions', completion({ logit_bias: { x: 1 } }), 'logit_bias', /not a token id/],
      ['/v1/completions', completion({ logit_bias: { '99999999': 1 } }), 'logit_bias', /vocabulary has/],
      [
        '/v1/chat/completions',
        chat({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }),
        'response_format.json_schema.schema',
        /is required/,
      ],
      [
        '/v1/chat/completions',
        chat({ response_format: { type: 'xml' } }),
        'response_format.type',
        /must be text/,
      ],
      [
        '/v1/chat/completions',
        chat({
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } },
          },
        }),
        'response_format',
        /uses "pattern"/,
      ],
    ]
    for (const [pathname, body, param, message] of cases) {
      const { error } = await refused(pathname, body, 400, param)
      expect(error.message).toMatch(message)
    }
  })
})

describe('limits, keys and draining', () => {
  it('a body over the limit is a 413', async () => {
    const small = await startServer({ modelPath: golden('llama-tiny'), maxSeqs: 1, bodyLimit: 1024 })
    try {
      const r = await postJson(small, '/v1/completions', completion({ prompt: 'x'.repeat(4096) }))
      expect(r.status).toBe(413)
      expect(((await r.json()) as ErrorBody).error.type).toBe('invalid_request_error')
    } finally {
      await small.close()
    }
  })

  it('a full queue is a 429 with Retry-After; one slot and no queue, one long request running', async () => {
    // The default model: 2048 positions, so the long request runs for a second or more.
    const busy = await startServer({ maxSeqs: 1, maxQueue: 0 })
    const controller = new AbortController()
    try {
      // Fits a free slot although nothing may wait.
      expect(
        (await busy.client.completions.create({ model: SERVED, prompt: 'Hi', max_tokens: 2 })).choices,
      ).toHaveLength(1)
      const long = await busy.client.completions.create(
        { model: SERVED, prompt: 'Hi', max_tokens: 2000, stream: true, ...({ min_tokens: 2000 } as object) },
        { signal: controller.signal },
      )
      const it = long[Symbol.asyncIterator]()
      await it.next() // running now
      const err = await busy.client.completions
        .create({ model: SERVED, prompt: 'Hi', max_tokens: 2 })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.RateLimitError)
      const limited = err as InstanceType<typeof OpenAI.RateLimitError>
      expect(limited.status).toBe(429)
      expect(limited.headers?.get('retry-after')).toBe('1')
      expect(limited.code).toBe('queue_full')
      // More sequences than slots and queue together could ever hold: a 400, not a retry.
      const never = await postJson(busy, '/v1/completions', completion({ n: 2 }))
      expect(never.status).toBe(400)
      controller.abort()
    } finally {
      await busy.close()
    }
  })

  it('with an API key: 401 without it or with another, /health and /metrics stay open', async () => {
    const keyed = await startServer({
      modelPath: golden('llama-tiny'),
      maxSeqs: 1,
      apiKey: 'sk-kiln-test-key',
    })
    try {
      expect((await keyed.client.models.list()).data[0].id).toBe(SERVED)
      const wrong = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 })
      const err = await wrong.models.list().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
      expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key')
      for (const pathname of ['/v1/models', '/tokenize', '/v1/nowhere']) {
        const r = await keyed.fetch(pathname)
        expect(r.status, pathname).toBe(401)
        expect(r.headers.get('www-authenticate')).toBe('Bearer')
      }
      expect((await keyed.fetch('/health')).status).toBe(200)
      expect((await keyed.fetch('/metrics')).status).toBe(200)
    } finally {
      await keyed.close()
    }
  })

  it('draining: /health and new requests get 503, /metrics stays readable', async () => {
    const draining = await startServer({ modelPath: golden('llama-tiny'), maxSeqs: 1 })
    try {
      expect((await draining.fetch('/health')).status).toBe(200)
      draining.app.kiln.startDraining()
      expect((await draining.fetch('/health')).status).toBe(503)
      const r = await postJson(draining, '/v1/completions', completion({}))
      expect(r.status).toBe(503)
      expect(((await r.json()) as ErrorBody).error.code).toBe('draining')
      expect((await draining.fetch('/metrics')).status).toBe(200)
    } finally {
      await draining.close()
    }
  })
})
