// `kiln serve` end to end, as its own process: it listens and says where (one JSON event, or one
// text line), answers the openai client, logs each request, and on SIGTERM/SIGINT drains (health
// 503, new requests 503, running ones finish) and exits 0; a second signal exits at once (143).
import OpenAI from 'openai'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { removeTempDirs } from '../helpers/cli.js'
import { eventually, type ServeProcess, spawnServe } from '../helpers/server.js'

afterAll(removeTempDirs)

const started: ServeProcess[] = []
afterEach(() => {
  for (const s of started.splice(0))
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
})

function serve(args: string[]): ServeProcess {
  const s = spawnServe([...args, '--threads', '1'])
  started.push(s)
  return s
}

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })

describe('kiln serve', () => {
  it('--json: a ready event, one event per request, a shutdown event after SIGTERM, exit 0', async () => {
    const s = serve(['--port', '0', '--json', '--max-seqs', '2'])
    const url = await s.ready
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const r = await client(url).chat.completions.create({
      model: 'kiln-default',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 5,
      temperature: 0,
    })
    expect(r.choices[0].message.role).toBe('assistant')
    expect((await fetch(`${url}/health`)).status).toBe(200)
    s.child.kill('SIGTERM')
    expect(await s.exited).toEqual({ code: 0, signal: null })
    expect(s.stderr()).toBe('')
    const events = s.events()
    expect(events).toEqual([
      { event: 'ready', url, model: 'kiln-default', max_model_len: 2048 },
      expect.objectContaining({
        event: 'request',
        method: 'POST',
        path: '/v1/chat/completions',
        status: 200,
        prompt_tokens: r.usage!.prompt_tokens,
        completion_tokens: r.usage!.completion_tokens,
      }),
      { event: 'shutdown', signal: 'SIGTERM', requests: 1, drained: true },
    ])
    expect(s.lines.length).toBe(events.length) // nothing but JSON on stdout
  })

  it('SIGTERM drains: health and new requests get 503 while a running stream finishes, then exit 0', async () => {
    const s = serve(['--port', '0', '--json', '--served-model-name', 'potter', '--no-prefix-cache'])
    const url = await s.ready
    const openai = client(url)
    const stream = await openai.completions.create({
      model: 'potter',
      prompt: 'Once upon a time',
      max_tokens: 1500,
      temperature: 0,
      stream: true,
      ...({ min_tokens: 1500 } as object),
    })
    const chunks = stream[Symbol.asyncIterator]()
    await chunks.next() // it runs
    s.child.kill('SIGTERM')
    expect(await eventually(async () => (await fetch(`${url}/health`)).status === 503, 2000)).toBe(true)
    // /metrics stays readable while draining; with --no-prefix-cache no prompt was looked up.
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/^kiln:num_requests_running\{model_name="potter"\} 1$/m)
    expect(metrics).toMatch(/^kiln:prefix_cache_queries_total\{model_name="potter"\} 0$/m)
    const refused = await openai.completions
      .create({ model: 'potter', prompt: 'Hi', max_tokens: 2 })
      .catch((e) => e)
    expect(refused).toBeInstanceOf(OpenAI.InternalServerError)
    expect((refused as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503)
    let finish: string | null = null
    for (let step = await chunks.next(); !step.done; step = await chunks.next())
      finish = step.value.choices[0]?.finish_reason ?? finish
    expect(finish).toBe('length')
    expect(await s.exited).toEqual({ code: 0, signal: null })
    expect(s.events().at(-1)).toMatchObject({ event: 'shutdown', signal: 'SIGTERM', drained: true })
  })

  it('a second signal exits at once, with the status a shell gives SIGTERM (143)', async () => {
    const s = serve(['--port', '0', '--json'])
    const url = await s.ready
    const stream = await client(url).completions.create({
      model: 'kiln-default',
      prompt: 'Once upon a time',
      max_tokens: 2000,
      stream: true,
      ...({ min_tokens: 2000 } as object),
    })
    await stream[Symbol.asyncIterator]().next()
    s.child.kill('SIGTERM')
    await eventually(async () => (await fetch(`${url}/health`)).status === 503, 2000)
    s.child.kill('SIGTERM')
    expect(await s.exited).toEqual({ code: 143, signal: null })
  })

  it('text mode: one line with the URL on stdout, a warning for an open server on every interface', async () => {
    const s = serve(['--port', '0', '--host', '0.0.0.0', '--max-seqs', '1'])
    const url = await s.ready
    expect(s.lines).toEqual([
      expect.stringMatching(/^kiln serve: listening on http:\/\/0\.0\.0\.0:\d+ \(model kiln-default\)$/),
    ])
    expect(s.stderr()).toMatch(/^kiln serve: warning: no API key/)
    const port = new URL(url).port
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
    s.child.kill('SIGINT')
    expect(await s.exited).toEqual({ code: 0, signal: null })
    expect(s.lines.filter((l) => l !== '')).toHaveLength(1)
    expect(s.stderr()).toMatch(/kiln serve: stopped on SIGINT after 0 requests\n$/)
  })

  it('refuses bad flags with one line and a non-zero status, never listening', async () => {
    const cases: [string[], number, RegExp][] = [
      [['--max-seqs', '0'], 2, /--max-seqs/],
      [['--port', '70000'], 2, /--port/],
      [['--kv-blocks', '1'], 2, /--kv-blocks must hold at least one whole context/],
      [['-m', '/nonexistent/model'], 1, /\/nonexistent\/model/],
      [['--chat-template', '/nonexistent/t.jinja'], 2, /--chat-template \/nonexistent\/t\.jinja: ENOENT/],
      [['--adapter', 'no-equals-sign'], 2, /--adapter no-equals-sign: expected NAME=DIR/],
      [['--adapter', 'a=x', '--adapter', 'a=y'], 2, /--adapter: the name a is given twice/],
      [['--adapter', 'a=/nonexistent/lora'], 1, /\/nonexistent\/lora: no adapter_config\.json/],
    ]
    await Promise.all(
      cases.map(async ([args, status, message]) => {
        const s = serve(['--port', '0', ...args])
        expect(await s.exited).toEqual({ code: status, signal: null })
        expect(s.lines.filter((l) => l !== '')).toEqual([])
        expect(s.stderr()).toMatch(/^kiln: [^\n]+\n$/)
        expect(s.stderr()).toMatch(message)
      }),
    )
  })
})
