// Fuzz target server-bodies: random and mutated JSON bodies POSTed to /v1/completions and
// /v1/chat/completions of a real server (the default model, one thread, as test/helpers/server.ts
// starts it). Every answer must be a 200 (a JSON completion, or an event stream that ends with
// [DONE] and carries no server error) or a 4xx with OpenAI's error shape; never a 5xx, and never an
// error that reaches the server's onInternalError (where it reports its 500s). The server must stay
// healthy: /health answers 200 and a plain completion still works after the run. Generation is kept
// short: valid token counts are clamped to a few tokens (invalid ones are sent as they are).
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { SERVED, startServer, type TestServer } from '../helpers/server.js'
import { FuzzFailure, fuzzTarget, jsonCodec } from './harness.js'
import { EDGE_INTS, hostileString, type Json, mutatedJson, smallJson, stringifyDeep } from './mutate.js'
import { randomSchema } from './schemas.js'

interface Case {
  path: '/v1/completions' | '/v1/chat/completions'
  /** A JSON body, or raw text when `raw` is set (not JSON, or with another content type). */
  body: Json
  raw?: string
  contentType?: string
}

const completions: Json[] = [
  { model: SERVED, prompt: 'Hello', max_tokens: 2 },
  { prompt: ['a', 'b'], max_tokens: 1, temperature: 0.7, top_p: 0.9, top_k: 5, seed: 3, n: 2 },
  { prompt: [1, 2, 3], max_tokens: 2, logprobs: 2, stop: ['x', '\n'], echo: false },
  { prompt: 'Say', max_tokens: 2, stream: true, stream_options: { include_usage: true } },
  {
    prompt: 'x',
    max_tokens: 3,
    response_format: {
      type: 'json_schema',
      json_schema: { schema: { type: 'object', properties: { a: { type: 'integer' } } } },
    },
  },
  {
    prompt: 'y',
    max_tokens: 2,
    logit_bias: { '5': 10, '7': -100 },
    repetition_penalty: 1.2,
    min_p: 0.1,
    presence_penalty: 0.5,
  },
  {
    prompt: [[1, 2], [3]],
    max_tokens: 1,
    echo: true,
    add_special_tokens: false,
    ignore_eos: true,
    min_tokens: 1,
  },
]
completions.push({
  prompt: 'z',
  max_tokens: 3,
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'list',
      schema: {
        $defs: { a: { anyOf: [{ $ref: '#/$defs/a' }, { type: 'null' }], description: 'x' } },
        type: 'object',
        properties: { next: { $ref: '#/$defs/a' }, n: { enum: [1, 'a', null] } },
      },
    },
  },
})
const chats: Json[] = [
  { model: SERVED, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
  {
    messages: [
      { role: 'system', content: 's' },
      { role: 'user', content: [{ type: 'text', text: 'a' }] },
    ],
    max_completion_tokens: 2,
    logprobs: true,
    top_logprobs: 2,
  },
  {
    messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null },
      { role: 'developer', content: 'd' },
    ],
    max_tokens: 1,
    stream: true,
  },
  {
    messages: [{ role: 'user', content: 'json' }],
    max_tokens: 3,
    response_format: { type: 'json_object' },
    n: 2,
  },
  {
    messages: [{ role: 'user', content: 'q' }],
    max_tokens: 2,
    tools: [],
    tool_choice: 'none',
    stop: 'a',
    temperature: 0,
  },
]

/** Valid token counts past a few tokens are cut to 3; invalid ones (negative, fractional, huge) stay. */
const COUNT_FIELDS = new Set(['max_tokens', 'max_completion_tokens', 'min_tokens'])
function clampWork(v: Json, depth = 0): Json {
  if (depth > 2 || v === null || typeof v !== 'object' || Array.isArray(v)) return v
  const out: Record<string, Json> = {}
  for (const [k, x] of Object.entries(v)) {
    if (COUNT_FIELDS.has(k) && typeof x === 'number' && Number.isInteger(x) && x > 3 && x < 1e6) out[k] = 3
    else if (k === 'n' && typeof x === 'number' && Number.isInteger(x) && x > 2 && x <= 16) out[k] = 2
    else out[k] = x
  }
  // Unasked, a chat may run to the end of the context: ask for a few tokens unless a count is sent.
  if (!('max_tokens' in out) && !('max_completion_tokens' in out)) out.max_tokens = 2
  return Object.fromEntries(Object.entries(out))
}

const path = fc.constantFrom('/v1/completions' as const, '/v1/chat/completions' as const)
const arbitrary: fc.Arbitrary<Case> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      path: fc.constant('/v1/completions' as const),
      body: mutatedJson(completions, 3).map((b) => clampWork(b)),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      path: fc.constant('/v1/chat/completions' as const),
      body: mutatedJson(chats, 3).map((b) => clampWork(b)),
    }),
  },
  // A body of the other route, or a random one.
  {
    weight: 1,
    arbitrary: fc.record({
      path,
      body: fc.oneof(mutatedJson([...completions, ...chats], 2), smallJson).map((b) => clampWork(b)),
    }),
  },
  // Not JSON, or not sent as JSON.
  {
    weight: 1,
    arbitrary: fc.record({
      path,
      body: fc.constant(null),
      raw: fc.oneof(
        hostileString,
        fc.constantFrom('', '{', '{"prompt": "a",}', '[]', 'null', '1e999', '{"prompt":"\\ud800"}', '\u0000'),
      ),
      contentType: fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
      ),
    }),
  },
  // A response_format schema of every kind (compiled by the route, then enforced while decoding).
  {
    weight: 2,
    arbitrary: fc.record({ schema: randomSchema, chat: fc.boolean() }).map(({ schema, chat }): Case => {
      const format = { type: 'json_schema', json_schema: { name: 'fuzz', schema } }
      return chat
        ? {
            path: '/v1/chat/completions',
            body: { messages: [{ role: 'user', content: 'json' }], max_tokens: 3, response_format: format },
          }
        : { path: '/v1/completions', body: { prompt: '{', max_tokens: 3, response_format: format } }
    }),
  },
  // Large numbers of prompts and turns.
  {
    weight: 1,
    arbitrary: fc.record({
      path: fc.constant('/v1/completions' as const),
      body: fc
        .constantFrom(...EDGE_INTS.filter((n) => n > 0 && n < 50_000))
        .map((n) => ({ prompt: Array.from({ length: n }, () => 'a'), max_tokens: 1 }) as Json),
    }),
  },
)

let server: TestServer | undefined
const internalErrors: unknown[] = []

beforeAll(async () => {
  server = await startServer({
    contextLength: 256,
    onInternalError: (err) => internalErrors.push(err),
  })
}, 120_000)
afterAll(async () => {
  await server?.close()
})

function checkErrorBody(status: number, text: string): void {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new FuzzFailure(`status ${status} with a body that is not JSON: ${text.slice(0, 200)}`, 'answer')
  }
  const e = (body as { error?: Record<string, unknown> })?.error
  const ok =
    e &&
    typeof e.message === 'string' &&
    typeof e.type === 'string' &&
    (e.param === null || typeof e.param === 'string') &&
    (e.code === null || typeof e.code === 'string')
  if (!ok)
    throw new FuzzFailure(`status ${status} without OpenAI's error shape: ${text.slice(0, 300)}`, 'answer')
  if (/[\r\n]/.test(e.message as string))
    throw new FuzzFailure(
      `status ${status} error message is not one line: ${JSON.stringify(e.message)}`,
      'multiline',
    )
}

let cases = 0
fuzzTarget<Case>({
  target: 'server-bodies',
  arbitrary,
  caseMs: 10_000,
  ciMs: 8_000,
  corpus: jsonCodec<Case>(),
  async run(c) {
    const s = server!
    const before = internalErrors.length
    const res = await s.fetch(c.path, {
      method: 'POST',
      headers: { 'content-type': c.contentType ?? 'application/json' },
      body: c.raw ?? stringifyDeep(c.body),
      signal: AbortSignal.timeout(60_000),
    })
    const text = await res.text()
    if (internalErrors.length > before) {
      const err = internalErrors[internalErrors.length - 1] as Error
      throw new FuzzFailure(
        `the server reported an internal error (status ${res.status}): threw ${err?.constructor?.name}: ${err?.message}\n${err?.stack}`,
        'exception',
      )
    }
    if (res.status >= 500) throw new FuzzFailure(`status ${res.status}: ${text.slice(0, 500)}`, 'answer')
    if (res.status >= 400) {
      checkErrorBody(res.status, text)
    } else if (res.status !== 200) {
      throw new FuzzFailure(`status ${res.status}: ${text.slice(0, 300)}`, 'answer')
    } else if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const events = text
        .split('\n\n')
        .filter((e) => e.startsWith('data: '))
        .map((e) => e.slice(6))
      if (events.at(-1) !== '[DONE]')
        throw new FuzzFailure(`an event stream that does not end with [DONE]: ${text.slice(-300)}`, 'answer')
      for (const data of events.slice(0, -1)) {
        const chunk = JSON.parse(data) as { error?: { type?: string; message?: string } }
        if (chunk.error) {
          if (chunk.error.type === 'server_error')
            throw new FuzzFailure(`a server error in the event stream: ${chunk.error.message}`, 'answer')
          checkErrorBody(200, data)
        }
      }
    } else {
      const body = JSON.parse(text) as { choices?: unknown[] }
      if (!Array.isArray(body.choices))
        throw new FuzzFailure(`a 200 without choices: ${text.slice(0, 300)}`, 'answer')
    }
    // Now and then: the server is still healthy.
    if (++cases % 25 === 0) {
      const health = await s.fetch('/health')
      if (health.status !== 200)
        throw new FuzzFailure(`/health answers ${health.status} after this case`, 'answer')
    }
    return res.status === 200 ? 'answered' : `status ${res.status}`
  },
  setupMs: 30_000,
})

it('the server is healthy after the fuzz cases', async () => {
  const s = server!
  const before = internalErrors.length
  expect((await s.fetch('/health')).status).toBe(200)
  const res = await s.fetch('/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: 2 }),
  })
  expect(res.status).toBe(200)
  expect(internalErrors.slice(before)).toEqual([])
})
