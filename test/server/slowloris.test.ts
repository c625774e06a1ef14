// Slow clients (slowloris) against a real server (buildServer over the default model) with short
// timeouts: 50 connections that send their headers a byte at a time, or nothing, hold nothing: a
// normal request is answered meanwhile, and each of them is answered 408 and closed once the headers
// timeout passes; a body sent a byte at a time is cut at the request timeout; an idle keep-alive
// connection is closed. Responses are never cut: generations that run many times the request
// timeout, streamed or not, finish whole.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_TIMEOUTS } from '../../src/server/app.js'
import { removeTempDirs } from '../helpers/cli.js'
import { SERVED, startServer, type TestServer } from '../helpers/server.js'

const T = { headersMs: 800, requestMs: 1200, keepAliveMs: 400, checkIntervalMs: 50 }
/** How late a timeout may fire on a busy two-core machine (one check interval, and a scheduler). */
const LATE_MS = 600

let server: TestServer
let port: number

beforeAll(async () => {
  server = await startServer({ timeouts: T, maxSeqs: 16 })
  port = Number(new URL(server.url).port)
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

interface SlowClient {
  openedAt: number
  /** What the server sent before it closed the connection. */
  received: () => string
  /** Resolves with the time the server closed the connection. */
  closed: Promise<number>
  isOpen: () => boolean
}

/** A connection that sends `head` at once, then `drip` a byte every `everyMs`. */
function slowClient(head: string, drip: string, everyMs = 50): Promise<SlowClient> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    let open = true
    let timer: NodeJS.Timeout | undefined
    socket.on('data', (d) => {
      data += d.toString('latin1')
    })
    socket.on('error', () => {}) // the server resets it: expected
    const closed = new Promise<number>((res) =>
      socket.on('close', () => {
        open = false
        clearInterval(timer)
        res(Date.now())
      }),
    )
    socket.on('connect', () => {
      const openedAt = Date.now()
      if (head) socket.write(head)
      let i = 0
      if (drip) timer = setInterval(() => socket.writable && socket.write(drip[i++ % drip.length]), everyMs)
      resolve({ openedAt, received: () => data, closed, isOpen: () => open })
    })
  })
}

describe('slow clients do not hold the server', () => {
  it('without timeouts given, the server takes the production values', async () => {
    const plain = await startServer()
    try {
      const http = plain.app.server
      expect([http.headersTimeout, http.requestTimeout, http.keepAliveTimeout, http.timeout]).toEqual([
        DEFAULT_TIMEOUTS.headersMs,
        DEFAULT_TIMEOUTS.requestMs,
        DEFAULT_TIMEOUTS.keepAliveMs,
        0, // no idle timeout while a request is being served
      ])
      expect(DEFAULT_TIMEOUTS).toEqual({
        headersMs: 10_000,
        requestMs: 60_000,
        keepAliveMs: 72_000,
        checkIntervalMs: 1_000,
      })
    } finally {
      await plain.close()
    }
  })

  it('50 connections dribbling headers (or sending nothing): others are answered meanwhile; each gets 408 and is closed', async () => {
    const clients = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 10 === 9
          ? slowClient('', '') // opens and says nothing
          : slowClient('POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: abcdefgh\r\n'),
      ),
    )
    const t0 = Date.now()
    const r = await server.client.completions.create({
      model: SERVED,
      prompt: 'Once upon a time',
      max_tokens: 8,
      temperature: 0,
    })
    const health = await server.fetch('/health')
    const answered = Date.now()
    expect(r.usage?.completion_tokens).toBe(8)
    expect(health.status).toBe(200)
    expect(answered - t0).toBeLessThan(T.headersMs)
    expect(clients.filter((c) => c.isOpen())).toHaveLength(50)

    for (const c of clients) {
      const held = (await c.closed) - c.openedAt
      expect(held).toBeGreaterThanOrEqual(T.headersMs - 50)
      expect(held).toBeLessThan(T.headersMs + LATE_MS)
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /)
    }
    // Unharmed.
    const again = await server.client.completions.create({ model: SERVED, prompt: 'Hi', max_tokens: 2 })
    expect(again.choices).toHaveLength(1)
  })

  it('a body sent a byte at a time is cut at the request timeout, not the headers one', async () => {
    const head =
      'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n'
    const clients = await Promise.all(Array.from({ length: 5 }, () => slowClient(head, '{"prompt": "')))
    for (const c of clients) {
      const held = (await c.closed) - c.openedAt
      expect(held).toBeGreaterThanOrEqual(T.requestMs - 50)
      expect(held).toBeLessThan(T.requestMs + LATE_MS)
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /)
    }
  })

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await slowClient('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '')
    const held = (await c.closed) - c.openedAt
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /)
    // Node 20 keeps an idle socket up to a second past keepAliveTimeout.
    expect(held).toBeGreaterThanOrEqual(T.keepAliveMs - 50)
    expect(held).toBeLessThan(T.keepAliveMs + 1000 + LATE_MS)
  })

  it('generations running far past the request timeout, streamed or not, are not cut', async () => {
    // ignore_eos and 8 choices of 1500 tokens each: seconds of generation even for the tiny model.
    const long = { model: SERVED, prompt: 'Once upon a time', max_tokens: 1500, n: 8, temperature: 0 }
    const t0 = Date.now()
    const streamed = (async () => {
      const stream = await server.client.completions.create({
        ...long,
        stream: true,
        ...({ ignore_eos: true } as object),
      })
      const finish = new Map<number, string | null>()
      for await (const chunk of stream)
        for (const choice of chunk.choices)
          if (choice.finish_reason) finish.set(choice.index, choice.finish_reason)
      return { finish: [...finish.values()], ms: Date.now() - t0 }
    })()
    const whole = await server.client.completions.create({ ...long, ...({ ignore_eos: true } as object) })
    const wholeMs = Date.now() - t0
    const s = await streamed
    expect(whole.usage?.completion_tokens).toBe(8 * 1500)
    expect(whole.choices.map((c) => c.finish_reason)).toEqual(Array(8).fill('length'))
    expect(s.finish).toEqual(Array(8).fill('length'))
    // Otherwise the test proves nothing: both ran past the time the request timeout, had it applied
    // to responses, would have cut them by.
    expect(Math.min(wholeMs, s.ms)).toBeGreaterThan(T.requestMs + LATE_MS)
  })
})
